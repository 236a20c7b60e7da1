"""Task metrics, computed with well-kept libraries: scikit-learn for labels, seqeval for entities."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from kdedge.data.bio import repair_bio


def classification_metrics(gold: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f1_score(gold, predicted, average="macro", zero_division=0)),
    }


def entity_metrics(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    """Entity-level micro precision, recall and F1 (CoNLL rules: an entity counts only when its type
    and both boundaries match), plus word accuracy. Predictions are BIO-repaired first."""
    from seqeval.metrics import f1_score as entity_f1
    from seqeval.metrics import precision_score, recall_score

    predicted = [repair_bio(tags) for tags in predicted]
    words = sum(len(tags) for tags in gold)
    correct = sum(g == p for gold_tags, predicted_tags in zip(gold, predicted, strict=True)
                  for g, p in zip(gold_tags, predicted_tags, strict=True))
    return {
        "entity_f1": float(entity_f1(gold, predicted, zero_division=0)),
        "entity_precision": float(precision_score(gold, predicted, zero_division=0)),
        "entity_recall": float(recall_score(gold, predicted, zero_division=0)),
        "word_accuracy": correct / words if words else 0.0,
    }
