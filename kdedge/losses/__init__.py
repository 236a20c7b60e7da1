"""Loss registry: the recipe's loss name → loss class. Each loss lives in its own module."""

from kdedge.losses.attention import AttentionLoss
from kdedge.losses.gold_labels import UNLABELLED, GoldLabelsLoss
from kdedge.losses.hard_labels import HardLabelsLoss
from kdedge.losses.hidden_states import HiddenStatesLoss, masked_mean
from kdedge.losses.soft_logits import SoftLogitsLoss

LOSSES = {
    "soft_logits": SoftLogitsLoss,
    "hard_labels": HardLabelsLoss,
    "gold_labels": GoldLabelsLoss,
    "hidden_states": HiddenStatesLoss,
    "attention": AttentionLoss,
}

__all__ = ["LOSSES", "UNLABELLED", "AttentionLoss", "GoldLabelsLoss", "HardLabelsLoss", "HiddenStatesLoss",
           "SoftLogitsLoss", "masked_mean"]
