import numpy as np
import torch

from kdedge.students.bilstm import BiLSTMClassifier, BiLSTMConfig
from kdedge.students.extract import init_bilstm_embeddings, pca_embeddings
from kdedge.students.vocabulary import trim_vocabulary


def test_pca_keeps_the_main_directions():
    rng = np.random.default_rng(0)
    # rows vary mostly along two directions of a 16-d space
    basis = rng.normal(size=(2, 16))
    table = rng.normal(size=(200, 2)) * [5.0, 3.0] @ basis + rng.normal(scale=0.01, size=(200, 16))
    reduced = pca_embeddings(table, np.arange(200), 2)
    assert reduced.shape == (200, 2)
    assert np.isclose(reduced.std(), 1.0, atol=1e-3)
    # distances between rows survive the projection (up to the global scale)
    original = np.linalg.norm(table[:20, None] - table[None, :20], axis=-1)
    projected = np.linalg.norm(reduced[:20, None] - reduced[None, :20], axis=-1)
    assert np.corrcoef(original.ravel(), projected.ravel())[0, 1] > 0.999


def test_student_rows_come_from_the_kept_teacher_tokens():
    rng = np.random.default_rng(1)
    teacher_table = rng.normal(size=(30, 12)).astype(np.float32)
    counts = np.arange(30)[::-1].copy()
    trim = trim_vocabulary(counts, size=10, pad_id=0, unk_id=1)
    student = BiLSTMClassifier(BiLSTMConfig(trim.size, 4, 6, 2, 30), torch.from_numpy(trim.token_map))
    init_bilstm_embeddings(student, teacher_table, trim, unk_id=1)
    weights = student.embeddings.weight.detach().numpy()
    assert np.all(weights[0] == 0)
    expected = pca_embeddings(teacher_table, np.concatenate([[1], trim.kept_ids]), 4)
    assert np.allclose(weights[1:], expected)


# --- Transformer extraction ----------------------------------------------------------------------

import pytest  # noqa: E402

from kdedge.students.extract import extract_transformer, select_structure  # noqa: E402
from kdedge.students.importance import importance_scores  # noqa: E402
from kdedge.students.reconstruct import layer_norm_fit, reconstruct, ridge_fit  # noqa: E402
from kdedge.students.transformer import TransformerConfig  # noqa: E402
from kdedge.teacher.loading import count_params, load_teacher  # noqa: E402
from kdedge_runtime.encoding import TextEncoder  # noqa: E402


@pytest.fixture(scope="module")
def teacher_and_scores(tiny_teacher_dir):
    from conftest import sentiment_rows

    torch.manual_seed(0)
    teacher = load_teacher(str(tiny_teacher_dir), ("negative", "neutral", "positive"))
    # the student computes attention eagerly; the teacher must too for a bit-for-bit comparison
    teacher.model.config._attn_implementation = "eager"
    encoder = TextEncoder(teacher.tokenizer, 32, teacher.pad_token_id)
    texts = [t for t, _ in sentiment_rows(48, 7)]
    return teacher, encoder, texts, importance_scores(teacher.model, encoder, texts)


def student_config(teacher, layers, heads, head_dim, inner, vocab):
    return TransformerConfig(vocab, heads * head_dim, layers, heads, inner, 3, 32,
                             base_config=teacher.model.config.to_dict())


@pytest.mark.parametrize("method", ["etd-impt", "etd-rand"])
def test_full_size_extraction_reproduces_the_teacher_exactly(teacher_and_scores, method):
    teacher, encoder, texts, scores = teacher_and_scores
    c = teacher.model.config
    selection = select_structure(c, c.num_hidden_layers, c.num_attention_heads, c.hidden_size // c.num_attention_heads,
                                 c.intermediate_size, c.hidden_size, method, scores)
    config = student_config(teacher, c.num_hidden_layers, c.num_attention_heads,
                            c.hidden_size // c.num_attention_heads, c.intermediate_size, c.vocab_size)
    student = extract_transformer(teacher.model, config, selection, np.arange(c.vocab_size))
    ids, mask = (torch.from_numpy(a) for a in encoder.pad(encoder.encode(texts[:12])))
    with torch.no_grad():
        assert torch.equal(student(ids, mask), teacher.model(input_ids=ids, attention_mask=mask).logits)


def test_extracted_shapes(teacher_and_scores):
    teacher, _, _, scores = teacher_and_scores
    c = teacher.model.config
    selection = select_structure(c, 1, 1, 16, 40, 16, "etd-impt", scores)
    assert len(selection.layers) == 1 and len(selection.heads[0]) == 1
    assert len(selection.query_key_dims[0]) == len(selection.value_dims[0]) == 16
    assert len(selection.ffn[0]) == 40 and len(selection.hidden) == 16
    # ETD-Impt keeps the most important units
    assert selection.layers == [int(np.argmax(scores.layers))]
    assert selection.heads[0] == [int(np.argmax(scores.heads[selection.layers[0]]))]
    config = student_config(teacher, 1, 1, 16, 40, 50)
    student = extract_transformer(teacher.model, config, selection, np.arange(50))
    assert count_params(student) == config.params
    layer = student.model.bert.encoder.layer[0]
    assert tuple(layer.attention.self.query.weight.shape) == (16, 16)
    assert tuple(layer.intermediate.dense.weight.shape) == (40, 16)
    teacher_word = teacher.model.bert.embeddings.word_embeddings.weight
    assert torch.equal(student.model.bert.embeddings.word_embeddings.weight, teacher_word[:50][:, selection.hidden])


def test_etd_rand_is_seeded_and_uniform_in_depth(teacher_and_scores):
    teacher, _, _, _ = teacher_and_scores
    c = teacher.model.config
    first = select_structure(c, 1, 1, 16, 40, 16, "etd-rand", seed=3)
    assert first == select_structure(c, 1, 1, 16, 40, 16, "etd-rand", seed=3)
    assert first != select_structure(c, 1, 1, 16, 40, 16, "etd-rand", seed=4)
    assert first.layers == [c.num_hidden_layers - 1]


# --- layer-wise reconstruction after extraction --------------------------------------------------


def test_ridge_fit_recovers_a_linear_map_and_keeps_the_prior_without_signal():
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(400, 6, generator=generator)
    weight, bias = torch.randn(3, 6, generator=generator), torch.randn(3, generator=generator)
    fitted_weight, fitted_bias = ridge_fit(inputs, inputs @ weight.T + bias, torch.zeros(3, 6), torch.zeros(3), 1e-6)
    assert torch.allclose(fitted_weight, weight, atol=1e-3) and torch.allclose(fitted_bias, bias, atol=1e-3)
    # targets the prior already produces exactly: the prior stays, whatever the penalty
    kept_weight, kept_bias = ridge_fit(inputs, inputs @ weight.T + bias, weight, bias, 10.0)
    assert torch.allclose(kept_weight, weight, atol=1e-5) and torch.allclose(kept_bias, bias, atol=1e-5)


def test_layer_norm_fit_recovers_gain_and_bias():
    inputs = torch.randn(300, 8, generator=torch.Generator().manual_seed(1))
    gain, bias = torch.linspace(0.5, 2.0, 8), torch.linspace(-1.0, 1.0, 8)
    targets = torch.nn.functional.layer_norm(inputs, (8,), gain, bias, eps=1e-12)
    fitted_gain, fitted_bias = layer_norm_fit(inputs, targets, 1e-12, torch.ones(8), ridge=1e-8)
    assert torch.allclose(fitted_gain, gain, atol=1e-4) and torch.allclose(fitted_bias, bias, atol=1e-4)


def _extract(teacher, scores, heads, head_dim, inner, hidden):
    c = teacher.model.config
    selection = select_structure(c, c.num_hidden_layers, heads, head_dim, inner, hidden, "etd-impt", scores)
    config = student_config(teacher, c.num_hidden_layers, heads, head_dim, inner, c.vocab_size)
    return extract_transformer(teacher.model, config, selection, np.arange(c.vocab_size)), selection


def _batch(encoder, texts):
    return (torch.from_numpy(a) for a in encoder.pad(encoder.encode(texts)))


def test_reconstruction_leaves_a_full_size_student_as_extracted(teacher_and_scores):
    teacher, encoder, texts, scores = teacher_and_scores
    c = teacher.model.config
    head_dim = c.hidden_size // c.num_attention_heads
    student, selection = _extract(teacher, scores, c.num_attention_heads, head_dim, c.intermediate_size, c.hidden_size)
    ids, mask = _batch(encoder, texts[:32])
    reconstruct(student, teacher.model, selection, ids, ids, mask)
    with torch.no_grad():
        expected = teacher.model(input_ids=ids, attention_mask=mask).logits
        assert torch.allclose(student(ids, mask), expected, atol=1e-4)


def test_reconstruction_brings_a_narrow_student_closer_to_the_teacher_on_unseen_texts(teacher_and_scores):
    teacher, encoder, texts, scores = teacher_and_scores
    c = teacher.model.config  # hidden 64, 2 heads of 32, FFN 128: keep 1 head, hidden 32, FFN 48
    assert c.hidden_size == 64
    student, selection = _extract(teacher, scores, 1, 32, 48, 32)
    fit_ids, fit_mask = _batch(encoder, texts[:32])
    test_ids, test_mask = _batch(encoder, texts[32:])

    def error() -> float:
        with torch.no_grad():
            teacher_states = teacher.model.bert(input_ids=test_ids, attention_mask=test_mask).last_hidden_state
            student_states = student.model.bert(input_ids=test_ids, attention_mask=test_mask).last_hidden_state
        real = test_mask.bool()
        return float(((student_states - teacher_states[..., selection.hidden]) ** 2)[real].mean())

    before = error()
    trained = {name: p.clone() for name, p in student.named_parameters()}
    reconstruct(student, teacher.model, selection, fit_ids, fit_ids, fit_mask)
    after = error()
    assert after < 0.8 * before, (before, after)  # measured: 0.041 → 0.027
    changed = [name for name, p in student.named_parameters() if not torch.equal(p, trained[name])]
    assert any("query" in n for n in changed) and any("LayerNorm" in n for n in changed)
    assert not any("word_embeddings" in n for n in changed)  # embeddings are kept as extracted
