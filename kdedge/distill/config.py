"""Distillation's configuration (the recipe's `distill` section): stages and their loss weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kdedge.errors import ConfigError


@dataclass(frozen=True)
class LossWeights:
    """How much each loss counts in a stage (0 = unused). Each loss is its own module in kdedge.distill.losses.

    soft_logits: T² · KL(teacher/T ‖ student/T); hard_labels: cross-entropy on the teacher's argmax;
    gold_labels: cross-entropy on human labels (the labelled train split joins the transfer set);
    hidden_states: MSE between projected student and teacher hidden states (`distill.hidden_layers`);
    attention: KL between head-averaged attention distributions (Transformer students only).
    """

    soft_logits: float = 0.0  # weight of T² · KL between the teacher's and the student's softened logits
    hard_labels: float = 0.0  # weight of cross-entropy on the teacher's argmax labels
    gold_labels: float = 0.0  # weight of cross-entropy on the human labels of the train split
    hidden_states: float = 0.0  # weight of MSE between projected student and teacher hidden states
    attention: float = 0.0  # weight of KL between head-averaged attention maps (Transformer students)

    @property
    def uses_logits(self) -> bool:
        return self.soft_logits > 0 or self.hard_labels > 0 or self.gold_labels > 0


@dataclass(frozen=True)
class StageConfig:
    """One stage of distillation (XtremeDistil: representations, then soft logits, then hard labels).

    `epochs` and `learning_rate` default to the `distill` section's (a `distill.epochs` override, `--set`,
    sets every stage's epochs: `Recipe.with_values`). `unfreeze: gradual` trains only the
    top layer group (the classifier) in the first epoch and unfreezes one more group, from the top
    down, at each following epoch. A stage whose losses include a logit loss stops early on the dev
    score (accuracy, or entity F1 for NER; ties go to the lower dev loss); a representation-only stage
    on its own loss over the dev split.
    """

    name: str  # the stage's name (its folder in the run directory, and `--from-stage`)
    losses: LossWeights = field(default_factory=LossWeights)  # the stage's loss weights
    epochs: int | None = None  # the stage's epochs (default: `distill.epochs`)
    learning_rate: float | None = None  # the stage's learning rate (default: `distill.learning_rate`)
    # `gradual`: train the top layer group first and unfreeze one more per epoch
    unfreeze: Literal["all", "gradual"] = "all"


@dataclass(frozen=True)
class DistillConfig:
    """Training the student on the teacher-labelled transfer set.

    Without `stages`: one stage, loss = soft_weight * T^2 * KL(teacher/T || student/T) + hard_weight *
    CE(student, teacher argmax). With `stages`, each runs in order from the previous stage's best
    checkpoint, is kept in the run directory, and a later run resumes after the last finished one.
    `hidden_layers` pairs student and teacher layers for the hidden-state loss, as "student:teacher"
    (0 = embeddings, 1 = first layer, -1 = last); `attention_layer` does the same for attention.
    Training stops early when dev accuracy has not improved for `patience` evaluations.

    Multi-task recipes only: `task_sampling` picks the task of each training batch with probability
    proportional to its number of batches (`proportional`: every batch of every task once per epoch),
    the same for every task (`uniform`), or `annealed` from proportional to nearly uniform over the
    epochs (Stickland & Murray, 2019), so that a small task is not drowned by a large one.

    `entity_weight` (token classification): each word counts 1 + entity_weight × (how likely it is an
    entity) in the logit losses: the teacher's probability that it is not `O`, or 1 for a word whose gold
    tag is an entity. With `O` on nearly every word, an unweighted loss is met by predicting `O` and the
    student misses entities; 0 weighs every word the same.

    `mixed_precision`: `auto` trains in bf16 (or fp16) autocast on a GPU and in full precision on a
    CPU; `no`, `fp16` and `bf16` force a choice (bf16 also runs on CPUs that support it).
    """

    epochs: int = 10  # epochs per stage (`--set distill.epochs=N` also sets every stage's)
    batch_size: int = 64  # transfer texts per training batch
    learning_rate: float = 2e-3  # peak learning rate (AdamW, linear warm-up and decay)
    weight_decay: float = 0.0  # AdamW weight decay
    temperature: float = 2.0  # softmax temperature T of the soft-logit loss
    soft_weight: float = 1.0  # without `stages`: weight of the soft-logit loss
    hard_weight: float = 1.0  # without `stages`: weight of the hard-label loss
    patience: int = 3  # stop a stage after this many dev evaluations without improvement
    evals_per_epoch: int = 2  # dev evaluations (and checkpoints) per epoch
    seed: int = 0  # seed of the training order and dropout
    # stages in order (XtremeDistil: representations, soft logits, hard labels); empty: one stage
    stages: tuple[StageConfig, ...] = ()
    # `"student:teacher"` layer pairs for the hidden-state loss (0 embeddings, -1 last)
    hidden_layers: tuple[str, ...] = ("-1:-1",)
    attention_layer: str = "-1:-1"  # `"student:teacher"` layer pair for the attention loss
    # multi-task: which task each batch comes from (proportional, uniform, annealed)
    task_sampling: Literal["proportional", "uniform", "annealed"] = "proportional"
    entity_weight: float = 0.0  # NER: extra weight of likely-entity words in the logit losses (0: all words equal)
    # `auto` (bf16/fp16 autocast on a GPU, full precision on a CPU), `no`, `fp16`, `bf16`
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = "auto"

    @property
    def resolved_stages(self) -> tuple[StageConfig, ...]:
        if self.stages:
            return self.stages
        return (StageConfig("distill", LossWeights(soft_logits=self.soft_weight, hard_labels=self.hard_weight)),)

    @property
    def layer_pairs(self) -> list[tuple[int, int]]:
        return [parse_layer_pair(text) for text in self.hidden_layers]


def parse_layer_pair(text: str) -> tuple[int, int]:
    """`"2:6"` → (student layer 2, teacher layer 6); negative numbers count from the top."""
    try:
        student, teacher = (int(part) for part in str(text).split(":"))
    except ValueError:
        raise ConfigError(f"cannot read layer pair {text!r}", hint='write "student:teacher" in quotes, e.g. "-1:-1" or "2:6" (unquoted, YAML reads 2:6 as the '
                               'base-60 number 126): --set \'distill.attention_layer="2:6"\'') from None
    return student, teacher
