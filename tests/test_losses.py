import math

import pytest
import torch

from kdedge.losses import LOSSES, HardLabelsLoss, SoftLogitsLoss


def test_soft_logits_golden_value():
    # teacher probs at T=1: softmax([0, ln 3]) = [0.25, 0.75]; student: uniform [0.5, 0.5]
    teacher = torch.tensor([[0.0, math.log(3.0)]])
    student = torch.tensor([[0.0, 0.0]])
    expected = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert SoftLogitsLoss(temperature=1.0)(student, teacher).item() == pytest.approx(expected, rel=1e-6)


def test_soft_logits_temperature_scaling():
    # at T=2 the teacher logits [0, 2 ln 3] soften to the same [0.25, 0.75]; the loss is scaled by T² = 4
    teacher = torch.tensor([[0.0, 2 * math.log(3.0)]])
    student = torch.tensor([[0.0, 0.0]])
    expected = 4 * (0.25 * math.log(0.5) + 0.75 * math.log(1.5))
    assert SoftLogitsLoss(temperature=2.0)(student, teacher).item() == pytest.approx(expected, rel=1e-6)


def test_soft_logits_is_zero_when_student_matches():
    logits = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, 1.0]])
    assert SoftLogitsLoss(3.0)(logits, logits).item() == pytest.approx(0.0, abs=1e-7)


def test_hard_labels_golden_value():
    teacher = torch.tensor([[0.1, 2.0], [3.0, -1.0]])  # argmax: 1, 0
    student = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    expected = (math.log(2.0) + -math.log(0.75)) / 2
    assert HardLabelsLoss()(student, teacher).item() == pytest.approx(expected, rel=1e-6)


def test_registry_names_each_loss():
    assert LOSSES == {"soft_logits": SoftLogitsLoss, "hard_labels": HardLabelsLoss}
