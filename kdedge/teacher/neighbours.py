"""Words of similar use by the teacher's own reading: nearest neighbours in its input embeddings.

Used to synthesise transfer text (`data.augment`): a word that the teacher's tokenizer keeps whole is
swapped for one of the `k` whole-word tokens whose embeddings are closest to its own (cosine), as
TinyBERT's augmentation does with word vectors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch

WORD = re.compile(r"^[^\W\d_]{2,}$")  # letters only, two or more: a word, not a piece or a number


def word_neighbours(tokenizer, embeddings: torch.Tensor, words: Iterable[str], k: int = 8,
                    chunk: int = 1024) -> dict[str, list[str]]:
    """For each of `words` (lower-cased) that the teacher's tokenizer reads as one ordinary token, its
    `k` nearest whole-word tokens by cosine of `embeddings` (the teacher's input embedding matrix)."""
    vocab = tokenizer.get_vocab()
    specials = set(getattr(tokenizer, "all_special_tokens", []) or [])
    candidates = sorted((token, index) for token, index in vocab.items()
                        if token not in specials and WORD.match(token) and index < embeddings.shape[0])
    if not candidates:
        return {}
    tokens = [token for token, _ in candidates]
    matrix = torch.nn.functional.normalize(embeddings.detach().float()[[index for _, index in candidates]], dim=1)
    position = {token: i for i, token in enumerate(tokens)}
    wanted = sorted({word.lower() for word in words if word.lower() in position})
    found: dict[str, list[str]] = {}
    for start in range(0, len(wanted), chunk):
        part = wanted[start : start + chunk]
        rows = torch.tensor([position[word] for word in part])
        similarity = matrix[rows] @ matrix.T
        similarity[torch.arange(len(part)), rows] = -2.0  # never the word itself
        best = torch.topk(similarity, min(k, len(tokens) - 1), dim=1).indices.numpy()
        for word, indices in zip(part, best, strict=True):
            found[word] = [tokens[i] for i in indices]
    return found

