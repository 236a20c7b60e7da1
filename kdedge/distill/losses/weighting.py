"""Row weights shared by the logit losses: a weighted mean, and how much a word counts as an entity."""

from __future__ import annotations

import torch


def weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """The mean of `values` [rows], each counted `weights[row]` times (the plain mean without weights)."""
    if weights is None:
        return values.mean() if len(values) else values.sum()
    return (values * weights).sum() / weights.sum().clamp(min=1e-12)


def entity_weights(teacher_logits: torch.Tensor | None, gold: torch.Tensor | None, outside: int, weight: float,
                   unlabelled: int) -> torch.Tensor:
    """1 + weight × how likely each word [rows] is an entity: the teacher's probability that it is not the
    `outside` (O) label, raised to 1 where a gold tag says it is an entity."""
    likely = None
    if teacher_logits is not None:
        likely = 1.0 - teacher_logits.float().softmax(dim=-1)[:, outside]
    if gold is not None:
        tagged = ((gold != unlabelled) & (gold != outside)).float()
        likely = tagged if likely is None else torch.maximum(likely, tagged)
    return 1.0 + weight * likely
