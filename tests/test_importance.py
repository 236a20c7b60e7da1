import numpy as np
import pytest
import torch
from conftest import sentiment_rows

from kdedge.students.importance import importance_scores
from kdedge.teacher.loading import load_teacher
from kdedge_runtime.encoding import TextEncoder


@pytest.fixture(scope="module")
def teacher(tiny_teacher_dir):
    torch.manual_seed(0)
    return load_teacher(str(tiny_teacher_dir), ("negative", "neutral", "positive"))


def test_scores_cover_every_unit(teacher):
    encoder = TextEncoder(teacher.tokenizer, 32, teacher.pad_token_id)
    scores = importance_scores(teacher.model, encoder, [t for t, _ in sentiment_rows(40, 5)], batch_size=16)
    config = teacher.model.config
    assert scores.heads.shape == (config.num_hidden_layers, config.num_attention_heads)
    assert scores.ffn.shape == (config.num_hidden_layers, config.intermediate_size)
    assert scores.hidden.shape == (config.hidden_size,)
    assert scores.query_key.shape == scores.value.shape == (config.num_hidden_layers, config.hidden_size)
    assert (scores.heads > 0).all() and (scores.ffn >= 0).all()
    assert scores.layers.shape == (config.num_hidden_layers,)
    # the teacher is left as it was: no hooks, no gradients
    assert all(p.grad is None for p in teacher.model.parameters())
    assert not any(m._forward_hooks for m in teacher.model.modules())


def test_a_silenced_head_scores_lowest(teacher):
    import copy

    model = copy.deepcopy(teacher.model)
    head_dim = model.config.hidden_size // model.config.num_attention_heads
    with torch.no_grad():  # head 1 of layer 0 now outputs nothing
        model.bert.encoder.layer[0].attention.self.value.weight[head_dim : 2 * head_dim] = 0
        model.bert.encoder.layer[0].attention.self.value.bias[head_dim : 2 * head_dim] = 0
    encoder = TextEncoder(teacher.tokenizer, 32, teacher.pad_token_id)
    scores = importance_scores(model, encoder, [t for t, _ in sentiment_rows(40, 6)])
    assert scores.heads[0, 1] == pytest.approx(0.0, abs=1e-12)
    assert np.argmin(scores.heads.ravel()) == 1
