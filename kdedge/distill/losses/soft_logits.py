"""Soft-logit distillation (Hinton et al.)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdedge.distill.losses.weighting import weighted_mean


class SoftLogitsLoss(nn.Module):
    """T² · mean over the batch of KL(softmax(teacher / T) ‖ softmax(student / T)).

    The T² factor keeps gradient magnitudes comparable across temperatures.
    """

    def __init__(self, temperature: float = 2.0):
        super().__init__()
        self.temperature = temperature

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                weights: torch.Tensor | None = None) -> torch.Tensor:
        """`weights`: one per row (a weighted mean over rows); None weighs rows the same."""
        t = self.temperature
        teacher = F.log_softmax(teacher_logits / t, dim=-1)
        student = F.log_softmax(student_logits / t, dim=-1)
        per_row = F.kl_div(student, teacher, log_target=True, reduction="none").sum(dim=-1)
        return weighted_mean(per_row, weights) * t * t
