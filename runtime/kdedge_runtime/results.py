"""What the runtime returns for one text: one typed `Prediction` whatever the artifact's task.

- sequence classification: `label`, `score` (its probability) and `probabilities` (every label's);
- token classification (NER): `entities` (typed spans with character offsets), and per word its `tags`
  and `tag_scores` (the probability of each word's tag);
- multi-task: `tasks`, one such `Prediction` per task name.

`truncated` says the text was longer than the model's `max_length` and its end was not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

SEQUENCE, TOKEN, MULTI_TASK = "sequence-classification", "token-classification", "multi-task"


@dataclass(frozen=True)
class Entity:
    """A named entity found in a text: `text[start:end]` is its surface form."""

    label: str  # the entity type, e.g. person
    start: int  # character offsets into the input text
    end: int
    text: str
    score: float  # mean over its words of the probability of each word's tag


@dataclass(frozen=True)
class Prediction:
    """The result for one text (see the module docstring for which fields each task fills)."""

    label: str | None = None
    score: float | None = None
    probabilities: Mapping[str, float] = field(default_factory=dict)
    entities: tuple[Entity, ...] = ()
    tags: tuple[str, ...] = ()
    tag_scores: tuple[float, ...] = ()
    truncated: bool = False
    tasks: Mapping[str, Prediction] = field(default_factory=dict)
    task: str = SEQUENCE


def as_json(result: Prediction) -> dict | list:
    """One text's result as the JSON of `POST /predict` and `predict --input`: {"label", "score"} for
    sequence classification, a list of entities for NER, {task name: either of those} for multi-task."""
    if result.task == MULTI_TASK:
        return {name: as_json(value) for name, value in result.tasks.items()}
    if result.task == TOKEN:
        return [asdict(entity) for entity in result.entities]
    return {"label": result.label, "score": result.score}
