"""Attention-distribution matching for Transformer students (MiniLM / TinyBERT style).

Each query's attention over the keys is a probability distribution. The student's distributions
(averaged over its heads, since it usually keeps fewer heads than the teacher) are pulled towards
the teacher's (averaged over its heads) with KL(teacher ‖ student), summed over keys and averaged
over the real query positions of the batch. Both models must read the same tokens.
"""

from __future__ import annotations

import torch
from torch import nn

EPSILON = 1e-8


class AttentionLoss(nn.Module):
    def forward(self, student: torch.Tensor, teacher: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """`student`, `teacher`: [batch, heads, seq, seq] attention probabilities (head counts may differ)."""
        s = student.mean(dim=1).clamp(min=EPSILON)
        t = teacher.mean(dim=1).clamp(min=EPSILON)
        per_query = (t * (t.log() - s.log())).sum(dim=-1)  # [batch, seq]
        mask = attention_mask.to(per_query.dtype)
        return (per_query * mask).sum() / mask.sum().clamp(min=1.0)
