"""Synthesise transfer text when the unlabelled transfer set is scarce (XtremeDistil's results rest on a
large one; a user with one labelled file has none).

New texts are made from the train texts with the augmentation rules of Tang et al. 2019 ("Distilling
task-specific knowledge from BERT into simple neural networks", section 3.3): each word is, with
probability `p_mask`, replaced by the teacher's mask token, or with probability `p_swap` by a word of
similar use; then, with probability `p_ngram`, only a random n-gram (n from 1 to 5) of the result is
kept. Tang et al. pick the similar word by part of speech; no tagger works offline here, so the similar
word is one of the word's nearest neighbours in the teacher's own input embeddings, as TinyBERT's
augmentation does (Jiao et al. 2020). The teacher labels the new texts like any transfer text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentRules:
    p_mask: float = 0.1
    p_swap: float = 0.1
    p_ngram: float = 0.25
    max_ngram: int = 5


def needs_augmenting(train_size: int, transfer_size: int, setting: bool | None) -> bool:
    """`setting` when given; by default, when the transfer set holds fewer unlabelled texts beyond the
    train split than the train split itself."""
    if setting is not None:
        return setting
    return transfer_size - train_size < train_size


def synthetic_count(train_size: int, transfer_size: int, factor: int, maximum: int) -> int:
    """How many new texts bring the transfer set to `factor` x the train split, at most `maximum` in all."""
    return max(0, min(factor * train_size, maximum) - transfer_size)


def augment_texts(texts: Sequence[str], count: int, seed: int, mask_token: str | None,
                  neighbours: Mapping[str, Sequence[str]], rules: AugmentRules = AugmentRules(),
                  exclude: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """`count` new texts (or fewer, when the texts do not allow that many distinct ones), each made from
    a random text of `texts` by the rules, none equal to a text of `texts` or `exclude`."""
    sources = [text.split() for text in texts if text.split()]
    if not sources or count <= 0:
        return []
    rng = np.random.default_rng(seed)
    seen = set(texts) | set(exclude)
    made: list[str] = []
    for _ in range(count * 4):  # short texts repeat; stop trying after a few rounds
        if len(made) >= count:
            break
        words = sources[int(rng.integers(len(sources)))]
        text = " ".join(_augmented(words, rng, mask_token, neighbours, rules))
        if text and text not in seen:
            seen.add(text)
            made.append(text)
    return made


def _augmented(words: list[str], rng: np.random.Generator, mask_token: str | None,
               neighbours: Mapping[str, Sequence[str]], rules: AugmentRules) -> list[str]:
    out = []
    for word in words:
        roll = rng.random()
        if mask_token and roll < rules.p_mask:
            out.append(mask_token)
        elif roll < rules.p_mask + rules.p_swap and neighbours.get(word.lower()):
            options = neighbours[word.lower()]
            out.append(options[int(rng.integers(len(options)))])
        else:
            out.append(word)
    if rng.random() < rules.p_ngram and len(out) > 1:
        n = int(rng.integers(1, min(rules.max_ngram, len(out)) + 1))
        start = int(rng.integers(len(out) - n + 1))
        out = out[start : start + n]
    return out
