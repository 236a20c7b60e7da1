"""Early stopping on the dev split: which evaluation is the best so far, when a stage stops, and the
checkpoint it ends on.

With `monitor="dev_score"` (a stage with a logit loss) the higher dev score wins and a tie goes to the
lower dev loss (an entity F1 still at 0 while a tagger learns that most words are `O` must not stop the
stage); with `monitor="dev_loss"` (a representation-only stage) the lower dev loss wins. An evaluation
that does not beat the best counts towards `patience`; after `patience` such evaluations in a row the
stage stops, and the student goes back to the best checkpoint's snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class EarlyStopping:
    patience: int
    monitor: Literal["dev_score", "dev_loss"] = "dev_score"
    best_step: int = 0  # 0: no evaluation yet, the starting point is the best
    best_score: float = -1.0  # the best evaluation's dev score
    best_state: Any = None  # the snapshot taken at the best evaluation (or at the start)
    evaluations_without_gain: int = 0
    _best_key: tuple = field(default=(-float("inf"),), repr=False)

    def start(self, snapshot: Callable[[], Any]) -> None:
        """The starting point: what the stage ends on if no evaluation improves on nothing."""
        self.best_state = snapshot()

    def key(self, dev_score: float, dev_loss: float) -> tuple:
        """How good an evaluation is; a larger key is better."""
        return (dev_score, -dev_loss) if self.monitor == "dev_score" else (-dev_loss,)

    def update(self, step: int, dev_score: float, dev_loss: float, snapshot: Callable[[], Any]) -> bool:
        """Record the evaluation at `step`; take a snapshot when it is the best so far. True if it was."""
        key = self.key(dev_score, dev_loss)
        if key > self._best_key:
            self._best_key, self.best_step, self.best_score = key, step, dev_score
            self.best_state = snapshot()
            self.evaluations_without_gain = 0
            return True
        self.evaluations_without_gain += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.evaluations_without_gain >= self.patience
