"""Hard distillation: the teacher's predicted class as the label (XtremeDistil's transfer-set labels)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdedge.distill.losses.weighting import weighted_mean


class HardLabelsLoss(nn.Module):
    """mean over the batch of −log softmax(student)[argmax teacher]."""

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                weights: torch.Tensor | None = None) -> torch.Tensor:
        per_row = F.cross_entropy(student_logits, teacher_logits.argmax(dim=-1), reduction="none")
        return weighted_mean(per_row, weights)
