"""The teacher's configuration (the recipe's `teacher` section)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class TeacherConfig:
    """The model to compress.

    `name` is an alias (`minilm`, `bert-base`), a local Hugging Face model folder, or a hub id.
    A teacher without a trained head for the task is fine-tuned first (`finetune: auto`).
    """

    name: str = "minilm"
    finetune: Literal["auto", "always", "never"] = "auto"
    epochs: float = 2.0
    learning_rate: float = 5e-5
    batch_size: int = 32
    warmup_ratio: float = 0.1
    seed: int = 0
