"""The student's configuration (the recipe's `student` section) and the compression target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kdedge.errors import ConfigError


@dataclass(frozen=True)
class StudentConfig:
    """The student's kind, size and initialisation.

    `target` is the compression ratio (teacher parameters / student parameters, embeddings counted),
    written `30x` or `30`; `max_params` caps the size instead. Explicit sizes override the solver:
    `embedding_dim` (BiLSTM), `hidden_size` (LSTM units per direction, or the Transformer's width),
    `layers`, `heads`, `intermediate_size` (Transformer) and `vocab_size`.

    `init`: `pca` (BiLSTM: embeddings from a PCA of the teacher's), `etd-impt` / `etd-rand`
    (Transformer: extracted from the teacher by importance / uniformly and at random), `random`
    (the baseline), or `auto`: pca for a BiLSTM, etd-impt for a Transformer.

    `reconstruct` (extracted Transformers): after extraction, re-fit every kept layer in closed form so
    that it reproduces the teacher's activations on the kept units (layer-wise least squares over
    `importance_samples` transfer texts, kdedge.students.reconstruct). `importance_samples` texts also score
    ETD-Impt's importance.
    """

    kind: Literal["bilstm", "transformer"] = "bilstm"
    target: str | None = "30x"
    max_params: int | None = None
    init: Literal["auto", "pca", "etd-impt", "etd-rand", "random"] = "auto"
    embedding_dim: int | None = None
    hidden_size: int | None = None
    vocab_size: int | None = None
    layers: int | None = None
    heads: int | None = None
    intermediate_size: int | None = None
    importance_samples: int = 512
    reconstruct: bool = True
    dropout: float = 0.2
    seed: int = 0

    @property
    def resolved_init(self) -> str:
        if self.init != "auto":
            return self.init
        return "pca" if self.kind == "bilstm" else "etd-impt"


INITS = {"bilstm": ("auto", "pca", "random"), "transformer": ("auto", "etd-impt", "etd-rand", "random")}


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
