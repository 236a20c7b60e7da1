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

    name: str = "minilm"  # alias (`minilm`, `bert-base`), local model folder or hub id
    # `auto`: fine-tune when the teacher has no trained head for these labels; `always`; `never`
    finetune: Literal["auto", "always", "never"] = "auto"
    epochs: float = 2.0  # fine-tuning epochs (stage 0; a fraction trains on part of an epoch)
    learning_rate: float = 5e-5  # fine-tuning peak learning rate (AdamW, linear decay)
    batch_size: int = 32  # fine-tuning batch size; also the batch size the teacher labels the transfer set with
    warmup_ratio: float = 0.1  # share of fine-tuning steps spent warming the learning rate up
    seed: int = 0  # seed of the new head and of the fine-tuning order
