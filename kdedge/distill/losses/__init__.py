"""Loss registry: the recipe's loss name (a field of `distill.config.LossWeights`) → loss class. Each
loss lives in its own module; the distillation loop builds a stage's losses through `build_loss`."""

from torch import nn

from kdedge.distill.losses.attention import AttentionLoss
from kdedge.distill.losses.gold_labels import UNLABELLED, GoldLabelsLoss
from kdedge.distill.losses.hard_labels import HardLabelsLoss
from kdedge.distill.losses.hidden_states import HiddenStatesLoss
from kdedge.distill.losses.soft_logits import SoftLogitsLoss
from kdedge.errors import ConfigError

LOSSES = {
    "soft_logits": SoftLogitsLoss,
    "hard_labels": HardLabelsLoss,
    "gold_labels": GoldLabelsLoss,
    "hidden_states": HiddenStatesLoss,
    "attention": AttentionLoss,
}


def build_loss(name: str, **options) -> nn.Module:
    """The loss registered as `name`, built with `options` (e.g. `temperature` for soft_logits)."""
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}", hint=f"known losses: {', '.join(LOSSES)}")
    return LOSSES[name](**options)


__all__ = ["LOSSES", "UNLABELLED", "AttentionLoss", "GoldLabelsLoss", "HardLabelsLoss", "HiddenStatesLoss",
           "SoftLogitsLoss", "build_loss"]
