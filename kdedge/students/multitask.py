"""MKD's multi-task student: one shared encoder (the BiLSTM's or the tiny Transformer's) and a small
head per task, so that one model serves several tasks and learns one general representation.

The encoder is a single-task student with its own head taken off: the BiLSTM's embeddings and LSTMs,
or the Transformer's `BertModel` (extracted from a teacher as for a single-task student). Heads:
sequence tasks pool the states (the BiLSTM by max over positions, the Transformer by its [CLS]
pooler) and classify; token tasks classify every position.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from kdedge.data.tasks import TOKEN
from kdedge.students.bilstm import BiLSTMClassifier, max_pool
from kdedge.students.transformer import TransformerClassifier, hf_outputs
from kdedge.teacher.features import Features


@dataclass(frozen=True)
class TaskSpec:
    name: str
    task: str  # sequence-classification or token-classification
    labels: tuple[str, ...]


@dataclass(frozen=True)
class MultiTaskConfig:
    kind: str  # bilstm or transformer
    encoder: dict  # the single-task student config the encoder came from
    tasks: tuple[TaskSpec, ...]

    def to_dict(self) -> dict:
        return asdict(self)


class TaskHead(nn.Module):
    """States [batch, seq, width] → logits: per position (token task), or pooled (sequence task)."""

    def __init__(self, width: int, spec: TaskSpec, pooling: str, dropout: float,
                 classifier: nn.Linear | None = None, pooler: nn.Linear | None = None):
        super().__init__()
        self.task, self.pooling = spec.task, pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = classifier if classifier is not None else nn.Linear(width, len(spec.labels))
        if spec.task != TOKEN and pooling == "first":
            self.pooler = pooler if pooler is not None else nn.Linear(width, width)

    def forward(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.task == TOKEN:
            return self.classifier(self.dropout(states))
        if self.pooling == "max":
            return self.classifier(self.dropout(max_pool(states, attention_mask)))
        return self.classifier(self.dropout(torch.tanh(self.pooler(states[:, 0]))))


class MultiTaskStudent(nn.Module):
    """`forward(input_ids, attention_mask)` → one logits tensor per task, in the order of `config.tasks`."""

    def __init__(self, single: nn.Module, tasks: list[TaskSpec], dropout: float):
        """`single`: a freshly built single-task student of the first task; its encoder becomes the shared
        encoder and its head (and the Transformer's pooler) the first task's head."""
        super().__init__()
        if isinstance(single, BiLSTMClassifier):
            kind, width, pooling = "bilstm", 2 * single.config.hidden_size, "max"
            classifier, pooler = single.classifier, None
            single.classifier = nn.Identity()  # each task has its own head
            self.encoder = single
        elif isinstance(single, TransformerClassifier):
            kind, width, pooling = "transformer", single.config.hidden_size, "first"
            hf = single.model
            self.encoder = hf.base_model
            classifier = hf.classifier
            pooler = None
            if getattr(self.encoder, "pooler", None) is not None:
                pooler = self.encoder.pooler.dense
                self.encoder.pooler = None
        else:
            raise TypeError(f"no multi-task student for {type(single).__name__}")
        self.config = MultiTaskConfig(kind, single.config.to_dict(), tuple(tasks))
        first_fits = tasks[0].task == single.config.task and len(tasks[0].labels) == single.config.num_labels
        self.heads = nn.ModuleDict({
            spec.name: TaskHead(width, spec, pooling, dropout,
                                classifier if number == 0 and first_fits else None,
                                pooler if number == 0 and first_fits else None)
            for number, spec in enumerate(tasks)
        })

    @property
    def task_names(self) -> list[str]:
        return [spec.name for spec in self.config.tasks]

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               attentions: bool = False) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...] | None]:
        """The shared encoder's hidden states (0 = embeddings, last = top layer) and attention probabilities."""
        if self.config.kind == "bilstm":
            if attentions:
                raise ValueError("a BiLSTM has no attention to match")
            return self.encoder.encode(input_ids, attention_mask), None
        output = hf_outputs(self.encoder, input_ids, attention_mask, attentions)
        return tuple(output.hidden_states), tuple(output.attentions) if attentions else None

    def task_features(self, name: str, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      attentions: bool = False) -> Features:
        states, attention = self.encode(input_ids, attention_mask, attentions)
        return Features(self.heads[name](states[-1], attention_mask), states, attention)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        states, _ = self.encode(input_ids, attention_mask)
        return tuple(self.heads[name](states[-1], attention_mask) for name in self.task_names)

    def view(self, name: str) -> TaskView:
        return TaskView(self, name)

    def layer_groups(self) -> list[list[nn.Module]]:
        """From the top down, for gradual unfreezing: every head, then the encoder's layers, then its embeddings."""
        if self.config.kind == "bilstm":
            below = [[self.encoder.forward_lstm, self.encoder.backward_lstm], [self.encoder.embeddings]]
        else:
            below = [*([layer] for layer in reversed(self.encoder.encoder.layer)), [self.encoder.embeddings]]
        return [list(self.heads.values()), *below]


class TaskView(nn.Module):
    """One task of a multi-task student, shaped like a single-task student (`features`, `forward`,
    `layer_groups`), so that the distillation losses and the evaluation code serve both."""

    def __init__(self, student: MultiTaskStudent, name: str):
        super().__init__()
        self.student, self.name = student, name

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, attentions: bool = False) -> Features:
        return self.student.task_features(self.name, input_ids, attention_mask, attentions)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.features(input_ids, attention_mask).logits

    def layer_groups(self) -> list[list[nn.Module]]:
        return self.student.layer_groups()
