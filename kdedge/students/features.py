"""What a model computes on the way to its logits, for the losses that match more than logits."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Features:
    logits: torch.Tensor  # [batch, labels]
    hidden_states: tuple[torch.Tensor, ...]  # [batch, seq, dim] each: 0 = embeddings, then one per layer
    attentions: tuple[torch.Tensor, ...] | None = None  # [batch, heads, seq, seq] per layer, when asked


@torch.no_grad()
def teacher_features(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     attentions: bool = False) -> Features:
    """A Hugging Face classifier's logits, hidden states and (optionally) attention probabilities."""
    output = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                   output_attentions=attentions)
    return Features(output.logits.float(), tuple(output.hidden_states), tuple(output.attentions) if attentions else None)


def hf_layer_groups(model: torch.nn.Module) -> list[list[torch.nn.Module]]:
    """A BERT-family classifier's layers from the top down: head (and pooler), each encoder layer, embeddings."""
    base = model.base_model
    top = [model.classifier] + ([base.pooler] if getattr(base, "pooler", None) is not None else [])
    return [top, *([layer] for layer in reversed(base.encoder.layer)), [base.embeddings]]
