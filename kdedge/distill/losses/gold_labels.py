"""Gold labels: cross-entropy on the rows that carry a human label (the labelled train split)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdedge.distill.losses.weighting import weighted_mean

UNLABELLED = -100  # the label of a transfer-set row: ignored by this loss


class GoldLabelsLoss(nn.Module):
    """Mean cross-entropy over the labelled rows of the batch; zero when the batch has none."""

    def forward(self, student_logits: torch.Tensor, gold: torch.Tensor,
                weights: torch.Tensor | None = None) -> torch.Tensor:
        labelled = gold != UNLABELLED
        if not bool(labelled.any()):
            return student_logits.sum() * 0.0  # keeps the graph, adds nothing
        per_row = F.cross_entropy(student_logits[labelled], gold[labelled], reduction="none")
        return weighted_mean(per_row, None if weights is None else weights[labelled])
