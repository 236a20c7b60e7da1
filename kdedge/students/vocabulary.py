"""Trim the teacher's vocabulary to the tokens the data uses.

The student keeps only the most frequent teacher tokens; a lookup table maps every teacher id to a
student row (row 0 padding, row 1 unknown). The table travels inside the student (a buffer, not a
parameter), so the exported model still takes the teacher tokenizer's ids and the artifact's
`tokenizer.json` stays the teacher's, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD_ROW, UNK_ROW = 0, 1


@dataclass(frozen=True)
class VocabularyTrim:
    kept_ids: np.ndarray  # teacher ids of student rows 2..; rows 0/1 are padding/unknown
    token_map: np.ndarray  # teacher id → student row
    coverage: float  # share of token occurrences in the data that keep their own row

    @property
    def size(self) -> int:
        return len(self.kept_ids) + 2


def token_counts(id_lists: list[list[int]], teacher_vocab_size: int) -> np.ndarray:
    counts = np.zeros(teacher_vocab_size, dtype=np.int64)
    for ids in id_lists:
        np.add.at(counts, ids, 1)
    return counts


def coverage_curve(counts: np.ndarray, exclude: tuple[int, ...] = ()) -> np.ndarray:
    """curve[k] = share of occurrences covered by the k most frequent tokens (curve[0] = 0)."""
    counts = counts.copy()
    counts[list(exclude)] = 0
    ordered = np.sort(counts)[::-1]
    ordered = ordered[ordered > 0]
    total = max(int(ordered.sum()), 1)
    return np.concatenate([[0.0], np.cumsum(ordered) / total])


def trim_vocabulary(counts: np.ndarray, size: int, pad_id: int, unk_id: int | None) -> VocabularyTrim:
    """Keep the `size - 2` most frequent tokens (ties broken by id, so the result is deterministic)."""
    if size < 3:
        raise ValueError("a trimmed vocabulary needs at least 3 rows")
    counts = counts.copy()
    excluded = [pad_id] + ([unk_id] if unk_id is not None else [])
    counts[excluded] = 0
    order = np.lexsort((np.arange(len(counts)), -counts))
    kept = np.array([i for i in order[: size - 2] if counts[i] > 0], dtype=np.int64)
    token_map = np.full(len(counts), UNK_ROW, dtype=np.int64)
    token_map[pad_id] = PAD_ROW
    token_map[kept] = np.arange(2, 2 + len(kept))
    coverage = float(counts[kept].sum() / max(counts.sum(), 1))
    return VocabularyTrim(kept_ids=kept, token_map=token_map, coverage=coverage)
