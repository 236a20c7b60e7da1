"""The two task types: one label per text (sequence classification) or one BIO tag per word (NER).

Token classification is handled at the word level: a model's per-token logits are read at the first
sub-token of each word (`TextEncoder.encode_words`), so a teacher and a student that segment words
differently still predict for the same words. Generic code (caches, gates, variants) sees "rows":
one per text for sequences, one per word for tokens, concatenated in text order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

SEQUENCE = "sequence-classification"
TOKEN = "token-classification"
IGNORE = -100  # a token without a label: special tokens, padding, and sub-tokens after a word's first


def load_data(config, cache_dir: Path | None = None):
    """TaskData with LabelledSplit (sequence) or TaggedSplit (token) splits, by `config.task`."""
    if config.task == TOKEN:
        from kdedge.data.tagged import load_tagged_data

        return load_tagged_data(config, cache_dir)
    from kdedge.data.readers import load_task_data

    return load_task_data(config, cache_dir)


def auto_model_class(task: str):
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    return AutoModelForTokenClassification if task == TOKEN else AutoModelForSequenceClassification


def gather_words(token_logits: torch.Tensor, firsts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """[batch, seq, labels] → ([batch, words, labels] at each word's first sub-token, [batch, words] mask).

    Words line up with each text's whitespace-separated words by index; a word without a token (-1 in
    `firsts`: zero-width, or cut off by truncation) is zero and masked out."""
    width = max((len(f) for f in firsts), default=0) or 1
    positions = torch.zeros(len(firsts), width, dtype=torch.long, device=token_logits.device)
    mask = torch.zeros(len(firsts), width, dtype=torch.bool, device=token_logits.device)
    for row, first in enumerate(firsts):
        first = torch.tensor(first, dtype=torch.long)
        positions[row, : len(first)] = first.clamp(min=0)
        mask[row, : len(first)] = first >= 0
    index = positions.unsqueeze(-1).expand(-1, -1, token_logits.shape[-1])
    return torch.gather(token_logits, 1, index) * mask.unsqueeze(-1), mask


def token_labels(id_lists: list[list[int]], firsts: list[list[int]], tags: list[np.ndarray]) -> list[np.ndarray]:
    """Per-token training labels: a word's tag on its first sub-token, IGNORE everywhere else (and a
    word without a token teaches nothing)."""
    labels = []
    for ids, first, word_tags in zip(id_lists, firsts, tags, strict=True):
        row = np.full(len(ids), IGNORE, dtype=np.int64)
        first = np.asarray(first, dtype=np.int64)
        present = np.flatnonzero(first[: len(word_tags)] >= 0)
        row[first[present]] = np.asarray(word_tags)[present]
        labels.append(row)
    return labels


def predicted_tags(word_logits: np.ndarray, count: int, labels: tuple[str, ...]) -> list[str]:
    """A text's predicted tag for each of its `count` words, from its [max_length, labels] word logits.
    A word with no logits (an all-zero row: it had no token, being zero-width or cut off by truncation,
    or it lies past max_length) is O, never whatever label happens to be number 0."""
    kept = min(count, len(word_logits))
    rows = word_logits[:kept]
    present = np.any(rows != 0, axis=-1)
    tags = [labels[k] if seen else "O" for k, seen in zip(rows.argmax(axis=-1), present, strict=True)]
    return tags + ["O"] * (count - kept)


def word_rows(per_text: np.ndarray, counts: list[int]) -> np.ndarray:
    """[texts, max words, labels] (zero padded) → [Σ words, labels], in text order."""
    if not counts:
        return np.zeros((0, per_text.shape[-1] if per_text.ndim else 0), dtype=np.float32)
    return np.concatenate([per_text[i, :n] for i, n in enumerate(counts)])


def gold_matrix(tags: list[np.ndarray], width: int) -> np.ndarray:
    """Word tags as [texts, width], IGNORE after each text's last word."""
    out = np.full((len(tags), width), IGNORE, dtype=np.int64)
    for row, word_tags in enumerate(tags):
        out[row, : min(len(word_tags), width)] = word_tags[:width]
    return out


def prediction_rows(task: str, logits: np.ndarray, texts: list[str]) -> np.ndarray:
    """Per-text logits → 2-D rows: unchanged for sequences; each text's words, concatenated, for NER."""
    if task != TOKEN:
        return logits
    return word_rows(logits, [min(len(text.split()), logits.shape[1]) for text in texts])


def split_metrics(task: str, labels: tuple[str, ...], split, logits: np.ndarray) -> dict[str, float]:
    """Test or dev metrics from per-text logits: accuracy and macro-F1, or entity P/R/F1 for NER."""
    from kdedge.data.metrics import classification_metrics, entity_metrics

    if task != TOKEN:
        return classification_metrics(split.labels, logits.argmax(axis=1))
    gold = [[labels[t] for t in tags] for tags in split.tags]
    predicted = [predicted_tags(logits[row], len(tags), labels) for row, tags in enumerate(split.tags)]
    return entity_metrics(gold, predicted)


def primary_metric(task: str) -> str:
    return "entity_f1" if task == TOKEN else "accuracy"
