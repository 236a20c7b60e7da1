"""The XtremeDistil student: word embeddings → one bidirectional LSTM layer → max pooling → labels.

Padding never changes a prediction: the backward direction runs a forward LSTM over each sequence
reversed *within its own length*, so right padding is only ever read after the real tokens. This
keeps batched serving exact whatever the batch's longest text, and exports to plain ONNX LSTM ops.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from kdedge.teacher.features import Features
from kdedge_runtime.encoding import CASING_CLASSES


@dataclass(frozen=True)
class BiLSTMConfig:
    vocab_size: int  # student rows: 0 padding, 1 unknown, then the kept teacher tokens
    embedding_dim: int
    hidden_size: int  # per direction
    num_labels: int
    teacher_vocab_size: int
    dropout: float = 0.2
    task: str = "sequence-classification"  # or token-classification: one prediction per token, no pooling
    casing_stride: int = 0  # > 0: ids carry their word's casing class (kdedge_runtime.encoding), embedded too

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def params(self) -> int:
        e, h, labels = self.embedding_dim, self.hidden_size, self.num_labels
        lstm_per_direction = 4 * h * (e + h) + 8 * h  # two bias vectors, as torch.nn.LSTM has
        casing = CASING_CLASSES * e if self.casing_stride else 0
        return self.vocab_size * e + casing + 2 * lstm_per_direction + 2 * h * labels + labels


class BiLSTMClassifier(nn.Module):
    def __init__(self, config: BiLSTMConfig, token_map: torch.Tensor | None = None):
        super().__init__()
        self.config = config
        if token_map is None:
            token_map = torch.ones(config.teacher_vocab_size, dtype=torch.long)
        # teacher id → student row; a buffer, saved and exported, but not a trained parameter
        self.register_buffer("token_map", token_map.long().clone())
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_dim)
        # each word's casing (which an uncased teacher cannot see), added to its tokens' embeddings; zero at
        # first, so a PCA start from the teacher's embeddings is unchanged
        self.casing = nn.Embedding(CASING_CLASSES, config.embedding_dim) if config.casing_stride else None
        if self.casing is not None:
            nn.init.zeros_(self.casing.weight)
        self.forward_lstm = nn.LSTM(config.embedding_dim, config.hidden_size, batch_first=True)
        self.backward_lstm = nn.LSTM(config.embedding_dim, config.hidden_size, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(2 * config.hidden_size, config.num_labels)

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, attentions: bool = False) -> Features:
        """Logits plus hidden states: 0 = the embeddings, 1 = the BiLSTM's [batch, seq, 2 * hidden] states."""
        if attentions:
            raise ValueError("a BiLSTM has no attention to match")
        embedded, states = self.encode(input_ids, attention_mask)
        if self.config.task == "token-classification":
            return Features(self.classifier(self.dropout(states)), (embedded, states))
        return Features(self.classifier(self.dropout(max_pool(states, attention_mask))), (embedded, states))

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The embeddings and the BiLSTM's [batch, seq, 2 * hidden] states (the encoder without the head)."""
        if self.casing is not None:  # id = token + casing class × stride
            casing = torch.div(input_ids, self.config.casing_stride, rounding_mode="floor")
            tokens = input_ids - casing * self.config.casing_stride
            embedded = self.dropout(self.embeddings(self.token_map[tokens]) + self.casing(casing))
        else:
            embedded = self.dropout(self.embeddings(self.token_map[input_ids]))
        forward_states, _ = self.forward_lstm(embedded)
        reverse = _reverse_within_length(attention_mask).unsqueeze(-1)
        reversed_input = torch.gather(embedded, 1, reverse.expand(-1, -1, embedded.shape[-1]))
        backward_states, _ = self.backward_lstm(reversed_input)
        backward_states = torch.gather(backward_states, 1, reverse.expand(-1, -1, backward_states.shape[-1]))
        return embedded, torch.cat([forward_states, backward_states], dim=-1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.features(input_ids, attention_mask).logits

    def layer_groups(self) -> list[list[nn.Module]]:
        """From the top down, for gradual unfreezing: the classifier, the BiLSTM, the embeddings."""
        return [[self.classifier], [self.forward_lstm, self.backward_lstm],
                [self.embeddings, *([self.casing] if self.casing is not None else [])]]


def max_pool(states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Max over each text's own positions: [batch, seq, dim] → [batch, dim]."""
    return states.masked_fill(attention_mask.unsqueeze(-1) == 0, -1e4).max(dim=1).values


def _reverse_within_length(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index that reverses positions 0..len-1 of each row and leaves padding in place (an involution)."""
    lengths = attention_mask.sum(dim=1, keepdim=True)
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device).unsqueeze(0)
    positions = positions.expand_as(attention_mask)
    return torch.where(positions < lengths, lengths - 1 - positions, positions)
