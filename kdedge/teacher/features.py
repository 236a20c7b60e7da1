"""What a model computes on the way to its logits (the teacher's, and every student's `features()`), for the
losses that match more than logits and for the teacher's cached hidden states."""

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


def masked_mean(states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """[batch, seq, dim] → [batch, dim]: the mean over positions where the mask is 1."""
    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
