"""Soft-logit distillation (Hinton et al.)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SoftLogitsLoss(nn.Module):
    """T² · mean over the batch of KL(softmax(teacher / T) ‖ softmax(student / T)).

    The T² factor keeps gradient magnitudes comparable across temperatures.
    """

    def __init__(self, temperature: float = 2.0):
        super().__init__()
        self.temperature = temperature

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        teacher = F.log_softmax(teacher_logits / t, dim=-1)
        student = F.log_softmax(student_logits / t, dim=-1)
        return F.kl_div(student, teacher, log_target=True, reduction="batchmean") * t * t
