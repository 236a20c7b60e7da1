"""Loss registry: recipe name → loss class."""

from kdedge.losses.hard_labels import HardLabelsLoss
from kdedge.losses.soft_logits import SoftLogitsLoss

LOSSES = {
    "soft_logits": SoftLogitsLoss,
    "hard_labels": HardLabelsLoss,
}

__all__ = ["LOSSES", "HardLabelsLoss", "SoftLogitsLoss"]
