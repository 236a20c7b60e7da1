"""The tiny-Transformer student: a standard Hugging Face BERT of the teacher's family, only smaller.

It is built from the teacher's own config with new sizes, so it saves with `save_pretrained`, loads in
other tools, and exports with eager attention that onnxruntime's optimizer fuses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from kdedge.students.features import hf_layer_groups
from kdedge.teacher.features import Features

SUPPORTED_MODEL_TYPES = ("bert",)


@dataclass(frozen=True)
class TransformerConfig:
    vocab_size: int
    hidden_size: int  # = num_heads * head_dim, as BERT requires
    num_layers: int
    num_heads: int
    intermediate_size: int
    num_labels: int
    max_position: int  # position rows kept: the artifact's max_length
    type_vocab_size: int = 2
    base_config: dict | None = None  # the teacher's config: activation, LayerNorm epsilon, model type
    task: str = "sequence-classification"  # token-classification: a ...ForTokenClassification, no pooler

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def params(self) -> int:
        h, i, labels = self.hidden_size, self.intermediate_size, self.num_labels
        embeddings = (self.vocab_size + self.max_position + self.type_vocab_size) * h + 2 * h
        layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h
        pooler = h * h + h if self.task == "sequence-classification" else 0
        return embeddings + self.num_layers * layer + pooler + (h * labels + labels)

    def to_hf(self):
        from transformers import AutoConfig

        base = dict(self.base_config or {"model_type": "bert"})
        for key in ("architectures", "_name_or_path", "transformers_version", "id2label", "label2id", "dtype",
                    "torch_dtype", "num_labels"):
            base.pop(key, None)
        base.update(
            vocab_size=self.vocab_size, hidden_size=self.hidden_size, num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads, intermediate_size=self.intermediate_size,
            max_position_embeddings=self.max_position, type_vocab_size=self.type_vocab_size,
            num_labels=self.num_labels,
        )
        model_type = base.pop("model_type", "bert")
        config = AutoConfig.for_model(model_type, **base)
        config._attn_implementation = "eager"  # exports to plain ops that onnxruntime fuses into Attention
        return config


class TransformerClassifier(nn.Module):
    """`forward(input_ids, attention_mask) -> logits`, around a Hugging Face sequence or token classifier."""

    def __init__(self, config: TransformerConfig, model: nn.Module | None = None):
        super().__init__()
        from kdedge.data.tasks import auto_model_class

        self.config = config
        self.model = model if model is not None else auto_model_class(config.task).from_config(
            config.to_hf(), attn_implementation="eager"
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, attentions: bool = False) -> Features:
        """Logits, hidden states (embeddings, then each layer) and, if asked, attention probabilities.

        Attention probabilities are returned before attention dropout, so that they are distributions
        that a loss can compare with the teacher's; the rest of the network keeps its dropout.
        """
        output = hf_outputs(self.model, input_ids, attention_mask, attentions)
        return Features(output.logits, tuple(output.hidden_states), tuple(output.attentions) if attentions else None)

    def layer_groups(self) -> list[list[nn.Module]]:
        """From the top down, for gradual unfreezing: head and pooler, each layer, the embeddings."""
        return hf_layer_groups(self.model)


def hf_outputs(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, attentions: bool = False):
    """A Hugging Face model's output with every hidden state and, if asked, attention probabilities taken
    before attention dropout (so that they are distributions a loss can compare with the teacher's)."""
    self_attention = [m for name, m in model.named_modules() if name.endswith("attention.self")]
    training = [m.training for m in self_attention]
    if attentions:
        for module in self_attention:
            module.train(False)
    try:
        return model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                     output_attentions=attentions)
    finally:
        for module, mode in zip(self_attention, training, strict=True):
            module.train(mode)
