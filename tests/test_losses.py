import math

import pytest
import torch

from kdedge.distill.config import LossWeights
from kdedge.distill.losses import (
    LOSSES,
    UNLABELLED,
    AttentionLoss,
    GoldLabelsLoss,
    HardLabelsLoss,
    HiddenStatesLoss,
    SoftLogitsLoss,
    build_loss,
)
from kdedge.errors import ConfigError
from kdedge.teacher.features import masked_mean


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


def test_every_recipe_loss_builds_from_the_registry():
    # a recipe names losses by LossWeights' fields; each must resolve to a loss the loop can build
    assert set(LOSSES) == set(vars(LossWeights()))
    teacher = torch.tensor([[0.0, 2 * math.log(3.0)]])
    student = torch.tensor([[0.0, 0.0]])
    built = build_loss("soft_logits", temperature=2.0)
    assert built(student, teacher).item() == pytest.approx(4 * (0.25 * math.log(0.5) + 0.75 * math.log(1.5)), rel=1e-6)
    assert build_loss("hidden_states", student_dims=[2], teacher_dims=[3]).projections[0].weight.shape == (3, 2)


def test_an_unknown_loss_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown loss 'kl'") as error:
        build_loss("kl")
    assert error.value.hint == "known losses: soft_logits, hard_labels, gold_labels, hidden_states, attention"


def test_soft_logits_default_temperature_is_two():
    teacher = torch.tensor([[0.0, 2 * math.log(3.0)]])
    student = torch.tensor([[0.0, 0.0]])
    assert SoftLogitsLoss()(student, teacher).item() == pytest.approx(SoftLogitsLoss(2.0)(student, teacher).item())
    assert SoftLogitsLoss()(student, teacher).item() != pytest.approx(SoftLogitsLoss(3.0)(student, teacher).item())


def test_hidden_states_needs_one_teacher_width_per_student_width():
    with pytest.raises(ValueError, match="^one teacher width per student width$"):
        HiddenStatesLoss([4, 4], [6])
    loss = HiddenStatesLoss([2, 2], [2, 2])
    with pytest.raises(ValueError):  # a pair without its partner is an error, not silently dropped
        loss([torch.zeros(1, 2), torch.zeros(1, 2)], [torch.zeros(1, 2)])


def test_gold_labels_ignore_unlabelled_rows():
    student = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0], [5.0, -5.0]])
    gold = torch.tensor([1, 0, UNLABELLED])  # the third row is a transfer text: no gold label
    expected = (math.log(2.0) - math.log(0.75)) / 2
    assert GoldLabelsLoss()(student, gold).item() == pytest.approx(expected, rel=1e-6)


def test_gold_labels_zero_without_labelled_rows_but_keeps_the_graph():
    student = torch.tensor([[1.0, 2.0]], requires_grad=True)
    loss = GoldLabelsLoss()(student, torch.tensor([UNLABELLED]))
    loss.backward()
    assert loss.item() == 0.0 and student.grad is not None and not student.grad.any()


def test_masked_mean_ignores_padding():
    states = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert masked_mean(states, mask).tolist() == [[2.0, 3.0]]


def test_hidden_states_golden_value_through_the_projection():
    loss = HiddenStatesLoss([2], [3])
    with torch.no_grad():  # W maps (a, b) to (a, b, a + b), bias 1
        loss.projections[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        loss.projections[0].bias.fill_(1.0)
    student = [torch.tensor([[1.0, 2.0]])]  # projects to (2, 3, 4)
    teacher = [torch.tensor([[2.0, 3.0, 6.0]])]  # squared errors 0, 0, 4 → mean 4/3
    assert loss(student, teacher).item() == pytest.approx(4 / 3, rel=1e-6)


def test_hidden_states_averages_layer_pairs_and_learns_the_projection():
    torch.manual_seed(0)
    loss = HiddenStatesLoss([4, 4], [6, 6])
    student = [torch.randn(32, 4), torch.randn(32, 4)]
    teacher = [s @ torch.randn(4, 6) for s in student]  # a linear map exists, so the loss can reach ~0
    optimizer = torch.optim.Adam(loss.parameters(), lr=0.05)
    first = loss(student, teacher).item()
    for _ in range(400):
        optimizer.zero_grad()
        value = loss(student, teacher)
        value.backward()
        optimizer.step()
    assert value.item() < first * 0.01


def test_attention_golden_value_averages_heads_and_skips_padding():
    # teacher: 2 heads whose mean at query 0 is [0.5, 0.5]; student: 1 head with [0.25, 0.75]
    teacher = torch.tensor([[[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.5, 0.5]]]])
    student = torch.tensor([[[[0.25, 0.75], [0.9, 0.1]]]])
    mask = torch.tensor([[1, 0]])  # query 1 is padding
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert AttentionLoss()(student, teacher, mask).item() == pytest.approx(expected, rel=1e-5)


def test_attention_averages_over_the_real_queries():
    # two real queries with KL 0 and k, one padded query: the loss is k / 2, whatever the padding holds
    teacher = torch.tensor([[[[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]]])
    student = torch.tensor([[[[0.5, 0.5, 0.0], [0.25, 0.75, 0.0], [0.0, 1.0, 0.0]]]])
    k = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    for mask in (torch.tensor([[1, 1, 0]]), torch.tensor([[1.0, 1.0, 0.0]])):
        assert AttentionLoss()(student, teacher, mask).item() == pytest.approx(k / 2, rel=1e-4)


def test_attention_zero_when_distributions_match():
    probabilities = torch.softmax(torch.randn(2, 3, 4, 4), dim=-1)
    mask = torch.ones(2, 4, dtype=torch.long)
    assert AttentionLoss()(probabilities, probabilities, mask).item() == pytest.approx(0.0, abs=1e-6)


def test_logit_losses_weigh_rows_and_equal_weights_change_nothing():
    from kdedge.distill.losses.weighting import weighted_mean

    student = torch.tensor([[0.0, 0.0], [2.0, -1.0]])
    teacher = torch.tensor([[0.0, math.log(3.0)], [1.0, 1.0]])
    for loss in (SoftLogitsLoss(2.0), HardLabelsLoss()):
        plain = loss(student, teacher)
        assert loss(student, teacher, torch.tensor([3.0, 3.0])).item() == pytest.approx(plain.item(), rel=1e-6)
        # all the weight on one row: that row's loss alone
        assert loss(student, teacher, torch.tensor([1.0, 0.0])).item() == pytest.approx(
            loss(student[:1], teacher[:1]).item(), rel=1e-6)
    gold = torch.tensor([UNLABELLED, 1])
    assert GoldLabelsLoss()(student, gold, torch.tensor([100.0, 1.0])).item() == pytest.approx(
        GoldLabelsLoss()(student, gold).item(), rel=1e-6)  # an unlabelled row's weight counts for nothing
    assert weighted_mean(torch.tensor([1.0, 4.0]), torch.tensor([1.0, 3.0])).item() == pytest.approx(3.25)


def test_entity_weights_follow_the_teachers_doubt_and_the_gold_tags():
    from kdedge.distill.losses.weighting import entity_weights

    # label 0 is O: a sure O word weighs 1, a sure entity 1 + weight, an even split 1 + weight / 2
    teacher = torch.tensor([[20.0, 0.0, 0.0], [0.0, 20.0, 0.0], [math.log(2.0), 0.0, 0.0]])
    weights = entity_weights(teacher, None, outside=0, weight=4.0, unlabelled=UNLABELLED)
    assert weights.tolist() == pytest.approx([1.0, 5.0, 3.0], abs=1e-6)
    # a gold entity counts as sure whatever the teacher thinks; unlabelled and O gold rows keep the teacher's
    gold = torch.tensor([2, UNLABELLED, 0])
    weights = entity_weights(teacher, gold, outside=0, weight=4.0, unlabelled=UNLABELLED)
    assert weights.tolist() == pytest.approx([5.0, 5.0, 3.0], abs=1e-6)
    assert entity_weights(None, gold, 0, 2.0, UNLABELLED).tolist() == [3.0, 1.0, 1.0]
