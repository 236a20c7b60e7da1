"""The student's configuration (the recipe's `student` section) and the compression target."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from kdedge.errors import ConfigError


@dataclass(frozen=True)
class StudentConfig:
    """The student's kind, size and initialisation.

    `kind`: `bilstm` (XtremeDistil's student), `transformer` (extracted from the teacher, ETD) or `bag`
    (a bag of token and hashed-bigram embeddings with a small head: fastText's speed, distilled the kdedge
    way; whole-text classification only). `ngram_buckets` (bag) sets its bigram rows.

    `target` is the compression ratio (teacher parameters / student parameters, embeddings counted),
    written `30x` or `30`; `max_params` caps the size instead. Explicit sizes override the solver:
    `embedding_dim` (BiLSTM), `hidden_size` (LSTM units per direction, or the Transformer's width),
    `layers`, `heads`, `intermediate_size` (Transformer) and `vocab_size`.

    `init`: `pca` (BiLSTM, bag: embeddings from a PCA of the teacher's), `teacher-pass` (bag: a PCA of the
    teacher's output for each token read alone, as Model2Vec distils static vectors), `etd-impt` / `etd-rand`
    (Transformer: extracted from the teacher by importance / uniformly and at random), `random`
    (the baseline), or `auto`: pca for a BiLSTM, teacher-pass for a bag, etd-impt for a Transformer.

    `latency` (`5ms@32x128`: milliseconds for a batch of 32 texts of 128 tokens) picks, among the shapes
    of the parameter budget, the best one whose estimated latency on this machine meets it
    (kdedge.export.shape_latency), and refuses with the fastest reachable latency when none does.
    Without it, `shape_by` decides: `cost` (the default) takes the cheapest shape, by the committed cost
    model (kdedge.students.cost_model: the same shape on every machine), among those of the best expected
    quality; `parameters` takes the best expected quality for the budget whatever it costs (the choice
    before the cost model: wider LSTMs, fewer vocabulary rows).

    `max_positions` (Transformer): position rows kept, the longest input the student can read; by default
    the longer of `data.max_length` and 128, at most the teacher's. The artifact's `max_length` (where the
    runtime truncates) stays the data's.

    `casing` (BiLSTM): the student also sees each word's casing (lower, Title, UPPER, mixed, digits,
    no letters), which an uncased teacher's tokenizer throws away: a small table of 7 casing vectors is
    added to the token embeddings, and the runtime folds the casing into the ids it feeds the model.
    Names and places keep their capitals in most text, so taggers gain most from it.

    `reconstruct` (extracted Transformers): after extraction, re-fit every kept layer in closed form so
    that it reproduces the teacher's activations on the kept units (layer-wise least squares over
    `importance_samples` transfer texts, kdedge.students.reconstruct). `importance_samples` texts also score
    ETD-Impt's importance.
    """

    kind: Literal["bilstm", "transformer", "bag"] = "bilstm"  # the student's architecture
    # compression ratio, teacher parameters / student parameters (`30x`); null with `max_params`
    target: str | None = "30x"
    max_params: int | None = None  # a parameter budget instead of (or with) `target`
    # initialisation: `pca` (BiLSTM), `etd-impt` / `etd-rand` (Transformer), `random`, or `auto`
    init: Literal["auto", "pca", "teacher-pass", "etd-impt", "etd-rand", "random"] = "auto"
    embedding_dim: int | None = None  # BiLSTM or bag embedding width (default: chosen by the solver)
    # LSTM units per direction, the Transformer's width, or a bag's head width (default: the solver's)
    hidden_size: int | None = None
    vocab_size: int | None = None  # vocabulary rows kept (the data's most frequent tokens; default: the solver's)
    layers: int | None = None  # Transformer layers (default: the solver's)
    heads: int | None = None  # Transformer attention heads (default: the solver's)
    intermediate_size: int | None = None  # Transformer feed-forward width (default: the solver's)
    importance_samples: int = 512  # transfer texts that score ETD-Impt's importance and feed reconstruction
    reconstruct: bool = True  # re-fit an extracted Transformer's layers to the teacher's activations (least squares)
    dropout: float = 0.2  # dropout in the student while it trains
    seed: int = 0  # seed of the student's random initialisation and of ETD-Rand's choice
    latency: str | None = None  # latency budget on this machine, `5ms@32x128`; null: `shape_by` decides the shape
    # without `latency`: `cost` (cheapest shape of the best expected quality, by the committed cost model) or
    # `parameters` (best expected quality for the budget, whatever it costs)
    shape_by: Literal["cost", "parameters"] = "cost"
    # Transformer position rows kept (default: max(data.max_length, 128), at most the teacher's)
    max_positions: int | None = None
    casing: bool = False  # BiLSTM: add a 7-row casing embedding (lower, Title, UPPER, ...) to each token
    ngram_buckets: int | None = None  # bag: rows for hashed token bigrams (default: the solver's; 0 turns them off)

    def positions(self, max_length: int, teacher_positions: int | None) -> int:
        """Position rows a Transformer student keeps: `max_positions`, or by default the longer of the
        data's `max_length` and 128 tokens (so every student serves and is benchmarked at 128), never
        more than the teacher has."""
        wanted = self.max_positions or max(max_length, SERVED_LENGTH)
        return min(wanted, teacher_positions) if teacher_positions else wanted

    @property
    def resolved_init(self) -> str:
        if self.init != "auto":
            return self.init
        return {"transformer": "etd-impt", "bag": "teacher-pass"}.get(self.kind, "pca")


SERVED_LENGTH = 128  # every Transformer student reads at least this many tokens (kdedge bench's longest default)

INITS = {"bilstm": ("auto", "pca", "random"), "transformer": ("auto", "etd-impt", "etd-rand", "random"),
         "bag": ("auto", "teacher-pass", "pca", "random")}


@dataclass(frozen=True)
class LatencySpec:
    """A median latency for one batch of `batch_size` texts of `seq_len` tokens: `5ms@32x128`."""

    milliseconds: float
    batch_size: int = 32
    seq_len: int = 128

    def __str__(self) -> str:
        return f"{self.milliseconds:g}ms@{self.batch_size}x{self.seq_len}"


def parse_latency(text: str) -> LatencySpec:
    """`5ms@32x128` (also `5ms`, for a batch of 32 x 128 tokens, or `5 ms @ 8x64`) → LatencySpec."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*ms\s*(?:@\s*(\d+)\s*x\s*(\d+))?\s*", str(text).lower())
    if match is None or float(match[1]) <= 0 or (match[2] and (int(match[2]) < 1 or int(match[3]) < 1)):
        raise ConfigError(f"cannot read latency {text!r}",
                          hint="write milliseconds per batch and its shape, e.g. --latency 5ms@32x128 (batch 32, "
                               "128 tokens)")
    return LatencySpec(float(match[1]), int(match[2] or 32), int(match[3] or 128))


def parse_target(target: str | float | int) -> float:
    """`30x`, `30` or 30.0 → 30.0."""
    text = str(target).strip().lower().removesuffix("x")
    try:
        ratio = float(text)
    except ValueError:
        raise ConfigError(f"cannot read target {target!r}", hint="write a compression ratio such as 30x") from None
    if ratio <= 1:
        raise ConfigError(f"target {target!r} would not compress the teacher", hint="use a ratio above 1, e.g. 30x")
    return ratio
