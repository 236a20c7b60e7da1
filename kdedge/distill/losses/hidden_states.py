"""Hidden-state matching: the student's representation, projected to the teacher's width, regresses onto
the teacher's (XtremeDistil's representation transfer; TinyBERT's hidden-state loss).

Any student layer can be paired with any teacher layer; each pair has its own learned projection,
trained with the student and dropped afterwards. For sequence classification, representations are
compared per text, as the mean over its real tokens, so the pair needs no token-by-token alignment
(the student may segment a text differently after vocabulary trimming). For token classification
(NER) they are compared word by word, at each word's first sub-token in either model's segmentation,
as XtremeDistil's representation stage does for taggers: the pooled mean would say nothing about
which word is an entity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class HiddenStatesLoss(nn.Module):
    """mean over pairs of MSE(W_k · student_k + b_k, teacher_k), on [rows, dim] representations: one row
    per text (pooled) or per word."""

    def __init__(self, student_dims: list[int], teacher_dims: list[int]):
        super().__init__()
        if len(student_dims) != len(teacher_dims):
            raise ValueError("one teacher width per student width")
        self.projections = nn.ModuleList(nn.Linear(s, t) for s, t in zip(student_dims, teacher_dims))  # same length: checked above

    def forward(self, student: list[torch.Tensor], teacher: list[torch.Tensor]) -> torch.Tensor:
        losses = [F.mse_loss(project(s), t) if len(s) else project(s).sum() * 0.0  # a batch without words
                  for project, s, t in zip(self.projections, student, teacher, strict=True)]
        return torch.stack(losses).mean()
