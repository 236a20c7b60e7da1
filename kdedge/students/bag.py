"""The fastest student: a bag of embeddings (sub-word tokens and hashed token bigrams) → pooled → labels.

fastText's architecture, trained the kdedge way: the token vectors start from a PCA of the teacher's
embedding matrix (as the BiLSTM's do, and as Model2Vec makes its static vectors), the bigram vectors
start at zero, and the student learns in XtremeDistil's stages from the teacher's hidden states, soft
logits and labels of the transfer set, which fastText's hard-label training cannot use. There is no
recurrence or attention: a text's vector is the mean and the max of its tokens' vectors (each token's
own vector plus the vector of the bigram it starts), read by a one-layer head. Only a text's own tokens
are pooled, so padding and batch neighbours never change a prediction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from kdedge.students.bilstm import max_pool
from kdedge.teacher.features import Features

BIGRAM_PRIME = 1_000_003  # hashes a pair of student rows (a, b) to (a * prime + b) mod ngram_buckets


@dataclass(frozen=True)
class BagConfig:
    vocab_size: int  # student rows: 0 padding, 1 unknown, then the kept teacher tokens
    embedding_dim: int
    hidden_size: int  # the head's width
    num_labels: int
    teacher_vocab_size: int
    ngram_buckets: int = 0  # rows for hashed token bigrams (0: tokens only)
    dropout: float = 0.2
    task: str = "sequence-classification"

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def params(self) -> int:
        e, h, labels = self.embedding_dim, self.hidden_size, self.num_labels
        return (self.vocab_size + self.ngram_buckets) * e + 2 * e * h + h + h * labels + labels


class BagClassifier(nn.Module):
    def __init__(self, config: BagConfig, token_map: torch.Tensor | None = None):
        super().__init__()
        if config.task != "sequence-classification":
            raise ValueError("a bag-of-embeddings student classifies whole texts (sequence classification) only")
        self.config = config
        if token_map is None:
            token_map = torch.ones(config.teacher_vocab_size, dtype=torch.long)
        # teacher id → student row; a buffer, saved and exported, but not a trained parameter
        self.register_buffer("token_map", token_map.long().clone())
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.bigrams = nn.Embedding(config.ngram_buckets, config.embedding_dim) if config.ngram_buckets else None
        if self.bigrams is not None:  # zero at first: the PCA start from the teacher's tokens is unchanged
            nn.init.zeros_(self.bigrams.weight)
        self.dropout = nn.Dropout(config.dropout)
        self.hidden = nn.Linear(2 * config.embedding_dim, config.hidden_size)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def token_vectors(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The token embeddings and each token's vector in the bag: its embedding plus that of the bigram
        it starts with the next token (none for a text's last token), [batch, seq, dim] each."""
        rows = self.token_map[input_ids]
        embedded = self.dropout(self.embeddings(rows))
        if self.bigrams is None:
            return embedded, embedded
        pairs = torch.remainder(rows[:, :-1] * BIGRAM_PRIME + rows[:, 1:], self.config.ngram_buckets)
        both = attention_mask[:, 1:].unsqueeze(-1).to(embedded.dtype)  # right padding: the next token is real
        bigrams = self.dropout(self.bigrams(pairs)) * both
        return embedded, embedded + nn.functional.pad(bigrams, (0, 0, 0, 1))

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, attentions: bool = False) -> Features:
        """Logits plus hidden states: 0 = the token embeddings, 1 = the tokens' vectors in the bag (mean-pooled,
        they are what the representation stage matches to the teacher)."""
        if attentions:
            raise ValueError("a bag of embeddings has no attention to match")
        embedded, vectors = self.token_vectors(input_ids, attention_mask)
        mask = attention_mask.unsqueeze(-1).to(vectors.dtype)
        mean = (vectors * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        pooled = torch.cat([mean, max_pool(vectors, attention_mask)], dim=-1)
        hidden = torch.tanh(self.hidden(self.dropout(pooled)))
        return Features(self.classifier(self.dropout(hidden)), (embedded, vectors))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.features(input_ids, attention_mask).logits

    def layer_groups(self) -> list[list[nn.Module]]:
        """From the top down, for gradual unfreezing: the classifier, the head's hidden layer, the vectors."""
        return [[self.classifier], [self.hidden], [self.embeddings, *([self.bigrams] if self.bigrams is not None else [])]]
