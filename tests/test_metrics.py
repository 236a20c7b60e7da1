import numpy as np
import pytest

from kdedge.data.metrics import classification_metrics


def test_accuracy_and_macro_f1():
    gold = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0])
    metrics = classification_metrics(gold, predicted)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    # per class F1: 0 → 0.5, 1 → 0.8, 2 → 2/3
    assert metrics["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
