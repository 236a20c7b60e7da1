"""The bag-of-embeddings student: padding-free pooling, hashed bigrams, its shape solver, its
initialisation from the teacher's own outputs, and a run end to end."""

import numpy as np
import pytest
import torch

from kdedge.errors import ConfigError
from kdedge.students.bag import BIGRAM_PRIME, BagClassifier, BagConfig
from kdedge.students.sizing import BAG_MAX_WIDTH, solve_bag_shape


def student(buckets: int = 17) -> BagClassifier:
    torch.manual_seed(0)
    model = BagClassifier(BagConfig(vocab_size=40, embedding_dim=8, hidden_size=6, num_labels=3,
                                    teacher_vocab_size=40, ngram_buckets=buckets, dropout=0.0),
                          token_map=torch.arange(40)).eval()
    if buckets:  # bigram vectors start at zero; give them values so that they matter
        torch.nn.init.normal_(model.bigrams.weight)
    return model


@pytest.mark.parametrize("buckets", [0, 17])
def test_a_text_scores_the_same_alone_and_padded_in_a_batch(buckets):
    model = student(buckets)
    alone = torch.tensor([[2, 5, 9, 3]])
    batch = torch.tensor([[2, 5, 9, 3, 0, 0, 0], [2, 7, 7, 8, 11, 12, 3]])
    mask = (batch != 0).long()
    with torch.no_grad():
        single = model(alone, torch.ones_like(alone))
        batched = model(batch, mask)
    assert torch.allclose(single[0], batched[0], atol=1e-6)


def test_bigrams_make_word_order_count_and_tokens_alone_do_not():
    ids, swapped = torch.tensor([[2, 5, 9, 11, 3]]), torch.tensor([[2, 9, 5, 11, 3]])
    ones = torch.ones_like(ids)
    with torch.no_grad():
        bag = student(0)
        assert torch.allclose(bag(ids, ones), bag(swapped, ones), atol=1e-6)
        ordered = student(17)
        assert not torch.allclose(ordered(ids, ones), ordered(swapped, ones), atol=1e-4)


def test_the_bigram_of_two_tokens_is_their_hashed_row():
    model = student(17)
    ids = torch.tensor([[2, 5, 9]])
    embedded, vectors = model.token_vectors(ids, torch.ones_like(ids))
    weights = model.bigrams.weight
    assert torch.allclose(vectors[0, 0] - embedded[0, 0], weights[(2 * BIGRAM_PRIME + 5) % 17])
    assert torch.allclose(vectors[0, 1] - embedded[0, 1], weights[(5 * BIGRAM_PRIME + 9) % 17])
    assert torch.allclose(vectors[0, 2], embedded[0, 2])  # the last token starts no bigram


def coverage(tokens: int) -> np.ndarray:
    counts = 1.0 / np.arange(1, tokens + 1)  # Zipf
    return np.concatenate([[0.0], np.cumsum(counts) / counts.sum()])


def test_the_solver_keeps_the_vocabulary_then_widens_then_spends_the_rest_on_bigrams():
    curve = coverage(20_000)
    shape = solve_bag_shape(750_000, curve, 3, 30522)
    assert shape.coverage >= 0.97 - 1e-3 and shape.embedding_dim <= BAG_MAX_WIDTH
    assert abs(shape.params - 750_000) <= 75_000
    # a larger budget does not widen past BAG_MAX_WIDTH: it buys bigram rows
    large = solve_bag_shape(3_000_000, curve, 3, 30522)
    assert large.embedding_dim == BAG_MAX_WIDTH and large.ngram_buckets > shape.ngram_buckets
    assert (large.embedding_dim, large.vocab_size, large.ngram_buckets) == (128, 14_607, 8_570)
    # explicit sizes win
    fixed = solve_bag_shape(750_000, curve, 3, 30522, embedding_dim=32, ngram_buckets=0, vocab_size=22_000)
    assert (fixed.embedding_dim, fixed.ngram_buckets, fixed.vocab_size) == (32, 0, 22_000)


def test_an_impossible_bag_budget_says_what_is_reachable():
    with pytest.raises(ConfigError, match="no bag-of-embeddings student") as error:
        solve_bag_shape(500, coverage(5_000), 3, 30522, teacher_params=22_000_000)
    assert "at least" in error.value.hint


def test_token_pass_vectors_are_the_teachers_output_for_each_token_alone(tiny_teacher_dir):
    from transformers import AutoModel

    from kdedge.students.extract import token_pass_embeddings

    encoder = AutoModel.from_pretrained(tiny_teacher_dir).eval()
    vectors = token_pass_embeddings(encoder, np.array([7, 9, 11]), cls_id=2, sep_id=3, batch_size=2)
    with torch.no_grad():
        expected = encoder(input_ids=torch.tensor([[2, 9, 3]])).last_hidden_state.mean(dim=1)[0].numpy()
    assert vectors.shape == (3, encoder.config.hidden_size)
    assert np.allclose(vectors[1], expected, atol=1e-5)


@pytest.mark.parametrize("section, values, words", [
    ("student", {"latency": "5ms@32x128"}, "latency"),
    ("data", {"task": "token-classification"}, "whole texts"),
])
def test_a_bag_student_refuses_what_it_cannot_do(tiny_teacher_dir, tiny_csv, section, values, words):
    from conftest import tiny_recipe

    sections = {"student": {"kind": "bag"}}
    sections.setdefault(section, {}).update(values)
    with pytest.raises(ConfigError, match=words):
        tiny_recipe(tiny_teacher_dir, tiny_csv, **sections)


def test_bag_student_end_to_end(tiny_teacher_dir, tiny_csv, tmp_path):
    from conftest import tiny_recipe

    from kdedge.pipeline.compress import compress
    from kdedge_runtime import Predictor

    recipe = tiny_recipe(tiny_teacher_dir, tiny_csv, student={"kind": "bag", "max_params": 12000})
    manifest = compress(recipe, tmp_path / "artifact", tmp_path / "run").manifest
    assert manifest["student"]["kind"] == "bag"
    assert manifest["metrics"]["student_onnx"]["accuracy"] > 0.8
    predictor = Predictor(tmp_path / "artifact")
    assert predictor.predict(["the movie was wonderful"])[0].label == "positive"
    # what ships is batch-invariant: a text alone and inside a mixed batch
    texts = ["the movie was wonderful", "a dull and boring plot that never ends at all, sadly", "fine"]
    batched = predictor.logits(texts)
    assert np.allclose(predictor.logits(texts[:1])[0], batched[0], atol=1e-4)
