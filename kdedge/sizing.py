"""Choose a student shape whose parameter count lands on a target.

For the BiLSTM most parameters sit in the embedding table, so the solver trades embedding width,
LSTM width and vocabulary size: for every (width, hidden) on a grid it spends what the LSTM leaves
on vocabulary rows, and prefers shapes that keep ≥97% of token occurrences in the data, then an LSTM
about 1.5x as wide as the embeddings (XtremeDistil's proportions), then wider embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kdedge.errors import ConfigError
from kdedge.students.bilstm import BiLSTMConfig

TOLERANCE = 0.10
EMBEDDING_GRID = (16, 24, 32, 48, 64, 96, 128, 192, 256, 300)
HIDDEN_GRID = tuple(range(16, 256, 8)) + tuple(range(256, 1025, 32))
MIN_VOCAB = 258  # padding, unknown and 256 tokens: below this a tokenizer's ids mostly collapse
WANTED_COVERAGE = 0.97


@dataclass(frozen=True)
class BiLSTMShape:
    embedding_dim: int
    hidden_size: int
    vocab_size: int
    params: int
    coverage: float
    reason: str


def budget_for(teacher_params: int, target: float | None, max_params: int | None) -> int:
    budgets = [teacher_params / target] if target else []
    budgets += [max_params] if max_params else []
    return int(min(budgets))


def solve_bilstm_shape(
    budget: int,
    coverage: np.ndarray,
    num_labels: int,
    teacher_vocab_size: int,
    embedding_dim: int | None = None,
    hidden_size: int | None = None,
    vocab_size: int | None = None,
    teacher_params: int | None = None,
) -> BiLSTMShape:
    """`coverage[k]`: share of token occurrences covered by the k most frequent tokens (vocabulary.coverage_curve)."""
    used = len(coverage) - 1  # distinct tokens in the data, padding and unknown excluded
    max_vocab = used + 2
    widths = (embedding_dim,) if embedding_dim else EMBEDDING_GRID
    hiddens = (hidden_size,) if hidden_size else HIDDEN_GRID
    candidates = []
    for e in widths:
        for h in _hidden_options(hiddens, e, budget, max_vocab, num_labels, explicit=bool(hidden_size or embedding_dim)):
            fixed = BiLSTMConfig(0, e, h, num_labels, teacher_vocab_size).params
            v = vocab_size or min(max_vocab, (budget - fixed) // e)
            if v < min(MIN_VOCAB, max_vocab):
                continue
            params = fixed + v * e
            if abs(params - budget) > TOLERANCE * budget:
                continue
            covered = float(coverage[min(v - 2, used)])
            score = (round(min(covered, WANTED_COVERAGE), 3), -abs(np.log(h / e / 1.5)), e)
            candidates.append((score, BiLSTMShape(e, h, int(v), int(params), covered, "")))
    if not candidates:
        smallest = BiLSTMConfig(min(MIN_VOCAB, max_vocab), widths[0], hiddens[0], num_labels, teacher_vocab_size).params
        largest = BiLSTMConfig(max_vocab, widths[-1], hiddens[-1], num_labels, teacher_vocab_size).params
        if teacher_params:
            hint = (
                f"reachable targets for this data run from {teacher_params / largest:.3g}x "
                f"to {teacher_params / smallest:.3g}x"
            )
        else:
            hint = f"reachable sizes run from {smallest:,} to {largest:,} parameters"
        raise ConfigError(f"no BiLSTM student has about {budget:,} parameters (±{TOLERANCE:.0%})", hint=hint)
    _, best = max(candidates, key=lambda item: item[0])
    reason = (
        f"embeddings {best.embedding_dim}-d x {best.vocab_size:,} rows keep {best.coverage:.1%} of token occurrences; "
        f"LSTM {best.hidden_size} units per direction; {best.params:,} parameters "
        f"({(best.params - budget) / budget:+.1%} of the {budget:,} budget)"
    )
    return BiLSTMShape(best.embedding_dim, best.hidden_size, best.vocab_size, best.params, best.coverage, reason)


def _hidden_options(grid: tuple[int, ...], e: int, budget: int, max_vocab: int, labels: int, explicit: bool) -> list[int]:
    """Grid widths about 1-4x the embedding width, plus the width that fills the budget exactly when
    the whole vocabulary fits (small data), which a coarse grid can step over."""
    options = [h for h in grid if explicit or 1 <= h / e <= 4]
    # params = 8h² + (8e + 16 + 2·labels)·h + V·e + labels, for V = max_vocab
    a, b, c = 8, 8 * e + 16 + 2 * labels, max_vocab * e + labels - budget
    if c < 0 and not explicit:
        exact = int((-b + (b * b - 4 * a * c) ** 0.5) / (2 * a))
        if exact >= 8:
            options.append(exact)
    return options
