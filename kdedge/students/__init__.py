"""Student registry: kind name → (config class, model class)."""

from __future__ import annotations

from kdedge.errors import ConfigError
from kdedge.students.bag import BagClassifier, BagConfig
from kdedge.students.bilstm import BiLSTMClassifier, BiLSTMConfig
from kdedge.students.transformer import TransformerClassifier, TransformerConfig

STUDENTS = {
    "bilstm": (BiLSTMConfig, BiLSTMClassifier),
    "transformer": (TransformerConfig, TransformerClassifier),
    "bag": (BagConfig, BagClassifier),
}


def student_classes(kind: str):
    if kind not in STUDENTS:
        raise ConfigError(f"unknown student kind {kind!r}", hint=f"known kinds: {', '.join(STUDENTS)}")
    return STUDENTS[kind]
