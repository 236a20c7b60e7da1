"""Layer groups of a Hugging Face student, from the top down, for gradual unfreezing."""

from __future__ import annotations

import torch


def hf_layer_groups(model: torch.nn.Module) -> list[list[torch.nn.Module]]:
    """A BERT-family classifier's layers from the top down: head (and pooler), each encoder layer, embeddings."""
    base = model.base_model
    top = [model.classifier] + ([base.pooler] if getattr(base, "pooler", None) is not None else [])
    return [top, *([layer] for layer in reversed(base.encoder.layer)), [base.embeddings]]
