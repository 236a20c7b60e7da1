"""Tensors for torch models from token-id lists, with length bucketing to avoid padding waste."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from kdedge_runtime.encoding import TextEncoder, length_buckets


def padded(encoder: TextEncoder, id_lists: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    input_ids, attention_mask = encoder.pad(id_lists)
    return torch.from_numpy(input_ids), torch.from_numpy(attention_mask)


def inference_batches(
    encoder: TextEncoder, id_lists: list[list[int]], batch_size: int
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """(indices, input_ids, attention_mask), sorted by length; put results back with the indices."""
    for batch in length_buckets(id_lists, batch_size):
        yield (batch, *padded(encoder, [id_lists[i] for i in batch]))


def training_batches(
    encoder: TextEncoder, id_lists: list[list[int]], batch_size: int, rng: np.random.Generator
) -> list[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled batches; each batch holds texts of similar length (sorted within pools)."""
    order = rng.permutation(len(id_lists))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: len(id_lists[i]))
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return [([int(i) for i in b], *padded(encoder, [id_lists[i] for i in b])) for b in batches]
