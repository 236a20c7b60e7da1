"""Every registered student and loss is built through its registry and checked for what it must do: a
new entry without a case here fails `test_every_*_has_a_case`."""

import math

import pytest
import torch

from kdedge.distill.losses import LOSSES, UNLABELLED, build_loss
from kdedge.students import STUDENTS, student_classes
from kdedge.students.bag import BagConfig
from kdedge.students.bilstm import BiLSTMConfig
from kdedge.students.transformer import TransformerConfig

STUDENT_CONFIGS = {
    "bilstm": BiLSTMConfig(vocab_size=30, embedding_dim=8, hidden_size=6, num_labels=3, teacher_vocab_size=30,
                           dropout=0.0),
    "transformer": TransformerConfig(vocab_size=30, hidden_size=8, num_layers=1, num_heads=2, intermediate_size=16,
                                     num_labels=3, max_position=16),
    "bag": BagConfig(vocab_size=30, embedding_dim=8, hidden_size=6, num_labels=3, teacher_vocab_size=30,
                     ngram_buckets=11, dropout=0.0),
}


def test_every_student_has_a_case():
    assert set(STUDENT_CONFIGS) == set(STUDENTS)


@pytest.mark.parametrize("kind", sorted(STUDENT_CONFIGS))
def test_each_student_kind_classifies_through_the_registry(kind):
    config_class, model_class = student_classes(kind)
    config = STUDENT_CONFIGS[kind]
    assert isinstance(config, config_class)
    torch.manual_seed(0)
    student = model_class(config).eval()
    ids = torch.randint(2, 30, (4, 7))
    features = student.features(ids, torch.ones_like(ids))
    assert features.logits.shape == (4, 3) and torch.isfinite(features.logits).all()
    assert len(student.layer_groups()) >= 3  # classifier, at least one layer, embeddings: gradual unfreezing
    # a saved config rebuilds the same kind of student
    assert model_class(config_class(**config.to_dict())).config == config


def test_an_unknown_student_kind_lists_the_known_ones():
    from kdedge.errors import ConfigError

    with pytest.raises(ConfigError) as error:
        student_classes("cnn")
    assert all(kind in error.value.hint for kind in STUDENTS)


def loss_cases():
    """name → (options, arguments where the student matches the teacher, arguments where it does not)."""
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.0, 3.0]])
    other = torch.tensor([[-1.0, 2.0, 0.0], [3.0, 0.0, -2.0]])
    attention = torch.softmax(torch.randn(2, 2, 4, 4), dim=-1)
    mask = torch.ones(2, 4)
    states = [torch.randn(2, 3)]
    return {
        "soft_logits": ({"temperature": 2.0}, (logits, logits), (logits, other)),
        # hard labels and gold labels are cross-entropies: confident agreement is near zero, disagreement is not
        "hard_labels": ({}, (logits * 20, logits), (other * 20, logits)),
        "gold_labels": ({}, (logits * 20, torch.tensor([0, 2])), (logits * 20, torch.tensor([1, UNLABELLED]))),
        "hidden_states": ({"student_dims": [3], "teacher_dims": [3]}, None, (states, [torch.randn(2, 3)])),
        "attention": ({}, (attention, attention, mask), (attention, attention.flip(-1), mask)),
    }


def test_every_loss_has_a_case():
    assert set(loss_cases()) == set(LOSSES)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_each_loss_is_small_on_agreement_and_large_on_disagreement(name):
    torch.manual_seed(0)
    options, matching, differing = loss_cases()[name]
    loss = build_loss(name, **options)
    if name == "hidden_states":  # a learned projection: make it the identity, then the matching pair costs 0
        with torch.no_grad():
            loss.projections[0].weight.copy_(torch.eye(3))
            loss.projections[0].bias.zero_()
        same = [torch.randn(2, 3)]
        matching = (same, [s.clone() for s in same])
    low, high = loss(*matching).item(), loss(*differing).item()
    assert low == pytest.approx(0.0, abs=1e-4)
    assert high > 0.1 and math.isfinite(high)
