import numpy as np
import pytest

from kdedge.data.metrics import classification_metrics, entity_metrics


def test_accuracy_and_macro_f1():
    gold = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0])
    metrics = classification_metrics(gold, predicted)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    # per class F1: 0 → 0.5, 1 → 0.8, 2 → 2/3
    assert metrics["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_entity_metrics_worked_by_hand():
    gold = [["B-per", "I-per", "O", "B-loc"], ["O", "B-org"]]
    # the second sentence's I-org is repaired to B-org before scoring; loc is missed
    predicted = [["B-per", "I-per", "O", "O"], ["O", "I-org"]]
    metrics = entity_metrics(gold, predicted)
    assert metrics["entity_precision"] == pytest.approx(1.0)  # 2 of 2 predicted entities are right
    assert metrics["entity_recall"] == pytest.approx(2 / 3)  # 2 of 3 gold entities found
    assert metrics["entity_f1"] == pytest.approx(0.8)
    assert metrics["word_accuracy"] == pytest.approx(5 / 6)  # only loc's word is wrong, after repair


def test_an_entity_counts_only_with_both_boundaries_and_its_type():
    gold = [["B-per", "I-per", "O", "B-loc"]]
    predicted = [["B-per", "O", "O", "B-org"]]  # per cut short, loc typed as org
    metrics = entity_metrics(gold, predicted)
    assert metrics["entity_f1"] == 0.0 and metrics["entity_precision"] == 0.0 and metrics["entity_recall"] == 0.0
    assert metrics["word_accuracy"] == pytest.approx(2 / 4)


def test_entity_metrics_of_nothing_and_of_mismatched_lengths():
    assert entity_metrics([[]], [[]]) == {"entity_f1": 0.0, "entity_precision": 0.0, "entity_recall": 0.0,
                                          "word_accuracy": 0.0}
    with pytest.raises(ValueError):
        entity_metrics([["O", "O"]], [["O"]])
    with pytest.raises(ValueError):
        entity_metrics([["O"], ["O"]], [["O"]])


def test_macro_f1_counts_a_never_predicted_class_as_zero():
    metrics = classification_metrics(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 1]))
    # per class F1: 1; class 1: precision 1/3, recall 1, F1 0.5; class 2: never predicted, 0
    assert metrics["accuracy"] == pytest.approx(0.5)
    assert metrics["macro_f1"] == pytest.approx((1 + 0.5 + 0) / 3)
