"""The teacher's configuration (the recipe's `teacher` section)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class TeacherConfig:
    """The model to compress.

    `name` is an alias (`minilm`, `bert-base`), a local Hugging Face model folder, or a hub id.
    A teacher without a trained head for the task is fine-tuned first (`finetune: auto`). By default
    for 2 epochs, or on a small train split for `min_steps` updates: 2 epochs of 800 rows are 50 updates,
    after which the packaged MiniLM still answers a two-class review task no better than its majority
    label (`benchmarks/own_data.py`).
    """

    name: str = "minilm"  # alias (`minilm`, `bert-base`), local model folder or hub id
    # `auto`: fine-tune when the teacher has no trained head for these labels; `always`; `never`
    finetune: Literal["auto", "always", "never"] = "auto"
    # fine-tuning epochs (stage 0; a fraction trains on part of an epoch); null: 2, or more on a small train
    # split, so that the teacher makes at least `min_steps` updates
    epochs: float | None = None
    min_steps: int = 250  # with epochs null, the fewest fine-tuning updates (2 epochs of 4,000 rows at batch 32)
    learning_rate: float = 5e-5  # fine-tuning peak learning rate (AdamW, linear decay)
    batch_size: int = 32  # fine-tuning batch size; also the batch size the teacher labels the transfer set with
    warmup_ratio: float = 0.1  # share of fine-tuning steps spent warming the learning rate up
    seed: int = 0  # seed of the new head and of the fine-tuning order


DEFAULT_EPOCHS = 2.0


def steps_per_epoch(config: TeacherConfig, rows: int) -> int:
    """Fine-tuning updates in one epoch of `rows` train rows."""
    return math.ceil(rows / config.batch_size)


def finetune_steps(config: TeacherConfig, rows: int) -> int:
    """How many updates fine-tuning makes on `rows` train rows: `epochs` of them when set; by default 2
    epochs, raised to `min_steps` when the split is small."""
    per_epoch = steps_per_epoch(config, rows)
    if config.epochs is not None:
        return max(1, int(round(per_epoch * config.epochs)))
    return max(1, int(round(per_epoch * DEFAULT_EPOCHS)), config.min_steps)
