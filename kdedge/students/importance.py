"""Gradient-based importance of a BERT teacher's parts, for ETD-Impt extraction.

Importance of a unit is Σ |activation × ∂loss/∂activation| over a sample of texts (the first-order
Taylor estimate of the loss change if the unit were removed; Molchanov et al. 2017, Michel et al.
2019 for heads). The loss is cross-entropy against the teacher's own predictions, so unlabelled
transfer texts serve. Scores are gathered with forward hooks, so the teacher is not modified.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kdedge.data.batching import inference_batches
from kdedge.progress import Reporter
from kdedge_runtime.encoding import TextEncoder


@dataclass(frozen=True)
class ImportanceScores:
    heads: np.ndarray  # [layers, heads]
    ffn: np.ndarray  # [layers, intermediate]
    hidden: np.ndarray  # [hidden]: residual-stream dimensions, summed over embeddings and every layer
    query_key: np.ndarray  # [layers, hidden]: per attention dimension, query and key together
    value: np.ndarray  # [layers, hidden]
    layers: np.ndarray  # [layers]: |Σ (output − input) · ∂loss/∂output|, the cost of replacing it by identity


def importance_scores(
    model: torch.nn.Module,
    encoder: TextEncoder,
    texts: list[str],
    batch_size: int = 32,
    reporter: Reporter | None = None,
) -> ImportanceScores:
    """Score the teacher's heads, FFN neurons and hidden dimensions on `texts`."""
    bert = model.bert
    layers = bert.encoder.layer
    num_heads = bert.config.num_attention_heads
    captured: dict[str, torch.Tensor] = {}

    def keep(name: str, of_input: bool = False):
        def hook(module, inputs, output):
            tensor = inputs[0] if of_input else (output[0] if isinstance(output, tuple) else output)
            tensor.retain_grad()
            captured[name] = tensor

        return hook

    handles = [bert.embeddings.register_forward_hook(keep("embeddings"))]
    for index, layer in enumerate(layers):
        attention = layer.attention
        handles += [
            attention.self.query.register_forward_hook(keep(f"{index}.query")),
            attention.self.key.register_forward_hook(keep(f"{index}.key")),
            attention.self.value.register_forward_hook(keep(f"{index}.value")),
            attention.output.dense.register_forward_hook(keep(f"{index}.context", of_input=True)),
            layer.intermediate.register_forward_hook(keep(f"{index}.ffn")),
            layer.output.register_forward_hook(keep(f"{index}.output")),
            layer.register_forward_hook(keep(f"{index}.layer_out")),
            layer.register_forward_pre_hook(lambda module, inputs, index=index: captured.__setitem__(
                f"{index}.layer_in", inputs[0].detach())),
        ]
    hidden_size, count = bert.config.hidden_size, len(layers)
    hidden = np.zeros(hidden_size)
    heads = np.zeros((count, num_heads))
    ffn = np.zeros((count, bert.config.intermediate_size))
    query_key = np.zeros((count, hidden_size))
    value = np.zeros((count, hidden_size))
    layer_scores = np.zeros(count)

    def score(name: str, mask: torch.Tensor) -> np.ndarray:
        tensor = captured[name]
        contribution = (tensor * tensor.grad).abs() * mask.unsqueeze(-1)
        return contribution.sum(dim=(0, 1)).detach().double().numpy()

    was_training = model.training
    model.eval()
    id_lists = encoder.encode(texts)
    reporter = reporter or Reporter(quiet=True)
    try:
        with torch.enable_grad(), reporter.progress("scoring teacher importance", len(texts)) as task:
            for indices, input_ids, attention_mask in inference_batches(encoder, id_lists, batch_size):
                model.zero_grad(set_to_none=True)
                logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
                if logits.dim() == 3:  # token classification: every real token is a prediction
                    logits = logits[attention_mask.bool()]
                loss = torch.nn.functional.cross_entropy(logits, logits.argmax(dim=-1).detach())
                loss.backward()
                mask = attention_mask.float()
                hidden += score("embeddings", mask)
                for index in range(count):
                    hidden += score(f"{index}.output", mask)
                    heads[index] += score(f"{index}.context", mask).reshape(num_heads, -1).sum(1)
                    ffn[index] += score(f"{index}.ffn", mask)
                    query_key[index] += score(f"{index}.query", mask) + score(f"{index}.key", mask)
                    value[index] += score(f"{index}.value", mask)
                    out = captured[f"{index}.layer_out"]
                    change = (out - captured[f"{index}.layer_in"]) * out.grad * mask.unsqueeze(-1)
                    layer_scores[index] += change.sum(dim=(1, 2)).abs().sum().item()  # per text, then summed
                captured.clear()
                task.advance(len(indices))
    finally:
        for handle in handles:
            handle.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return ImportanceScores(heads=heads, ffn=ffn, hidden=hidden, query_key=query_key, value=value,
                          layers=layer_scores)
