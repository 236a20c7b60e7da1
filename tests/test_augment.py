"""Synthetic transfer text for a user with one labelled file (Tang et al. 2019 rules, teacher neighbours)."""

import csv

import pytest
from conftest import sentiment_rows, tiny_recipe

from kdedge.data.augment import AugmentRules, augment_texts, needs_augmenting, synthetic_count
from kdedge.teacher.loading import load_teacher
from kdedge.teacher.neighbours import word_neighbours

TEXTS = [f"the movie was {word} and the food was {other}" for word in ("good", "bad", "fine")
         for other in ("great", "awful", "cold")]


def test_when_and_how_much():
    assert needs_augmenting(train_size=800, transfer_size=800, setting=None)  # the train texts only
    assert needs_augmenting(800, 1500, None) and not needs_augmenting(800, 1600, None)
    assert not needs_augmenting(800, 800, setting=False) and needs_augmenting(800, 90_000, setting=True)
    assert synthetic_count(800, 800, factor=10, maximum=40_000) == 7200
    assert synthetic_count(8000, 8000, factor=10, maximum=40_000) == 32_000
    assert synthetic_count(800, 9000, factor=10, maximum=40_000) == 0


def test_rules_mask_swap_and_sample_ngrams():
    neighbours = {"good": ["fine", "nice"], "movie": ["film"]}
    made = augment_texts(TEXTS, 200, seed=0, mask_token="[MASK]", neighbours=neighbours)
    assert len(made) == len(set(made)) == 200 and not set(made) & set(TEXTS)
    words = [text.split() for text in made]
    assert any("[MASK]" in w for w in words) and any("film" in w for w in words) and any("nice" in w for w in words)
    assert any(len(w) <= 5 for w in words)  # n-gram sampling keeps at most 5 words
    vocabulary = {w for text in TEXTS for w in text.split()} | {"[MASK]", "film", "fine", "nice"}
    assert all(set(w) <= vocabulary for w in words)  # nothing but the rules' words
    assert augment_texts(TEXTS, 200, 0, "[MASK]", neighbours) == made  # seeded
    assert augment_texts(TEXTS, 200, 1, "[MASK]", neighbours) != made
    plain = augment_texts(TEXTS, 50, 0, None, {}, AugmentRules(p_ngram=0.0), exclude={TEXTS[0]})
    assert all("[MASK]" not in text and len(text.split()) == 9 for text in plain)  # no mask token, no sampling


def test_a_short_source_gives_what_it_can():
    assert len(augment_texts(["hello world"], 1000, 0, "[MASK]", {})) < 20
    assert augment_texts([], 10, 0, "[MASK]", {}) == [] and augment_texts(TEXTS, 0, 0, "[MASK]", {}) == []


def test_neighbours_come_from_the_teachers_embeddings(tiny_teacher_dir):
    teacher = load_teacher(str(tiny_teacher_dir), ("a", "b"))
    found = word_neighbours(teacher.hf_tokenizer, teacher.model.get_input_embeddings().weight,
                            ["Movie", "great", "notaword", "!"], k=3)
    assert set(found) == {"movie", "great"}
    for word, options in found.items():
        assert len(options) == 3 and word not in options
        assert all(option.isalpha() and not option.startswith("#") for option in options)


def test_one_labelled_file_gets_a_synthetic_transfer_set(tiny_teacher_dir, tmp_path):
    from kdedge.data.tasks import load_data
    from kdedge.pipeline.prepare import augmented

    path = tmp_path / "own.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("review", "stars"), *sentiment_rows(300, seed=3)])
    teacher = load_teacher(str(tiny_teacher_dir), ("negative", "neutral", "positive"))
    for setting, expected in ((None, 240 * 4), (False, 240)):
        recipe = tiny_recipe(tiny_teacher_dir, path, data={"train_size": None, "dev_size": 30, "test_size": 30,
                                                           "augment": setting, "augment_factor": 4})
        data = load_data(recipe.data)
        assert len(data.train) == 240 and len(data.transfer) == 240
        grown = augmented(data, recipe, teacher)
        assert len(grown.transfer) == pytest.approx(expected, rel=0.05)
        assert grown.transfer[:240] == data.transfer and not set(grown.transfer) & set(data.test.texts)
        if setting is None:
            assert "synthesised" in grown.notes[-1] and "data.augment: false turns this off" in grown.notes[-1]
        else:
            assert grown is data
