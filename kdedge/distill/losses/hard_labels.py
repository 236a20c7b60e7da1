"""Hard distillation: the teacher's predicted class as the label (XtremeDistil's transfer-set labels)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class HardLabelsLoss(nn.Module):
    """mean over the batch of −log softmax(student)[argmax teacher]."""

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(student_logits, teacher_logits.argmax(dim=-1))
