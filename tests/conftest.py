"""Shared fixtures: a tiny BERT teacher built in-process and a small synthetic sentiment set.

Nothing downloads: the teacher has its own 2-layer config and a WordPiece vocabulary written here.
"""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

POSITIVE = ["great", "wonderful", "love", "excellent", "happy", "amazing", "best", "lovely", "superb", "fun"]
NEGATIVE = ["terrible", "awful", "hate", "worst", "sad", "horrible", "bad", "boring", "ugly", "broken"]
NEUTRAL = ["okay", "table", "monday", "report", "weather", "average", "plain", "blue", "number", "paper"]
SUBJECTS = ["the movie", "this phone", "my day", "the food", "our trip", "the service", "that song", "the game"]
FILLER = ["really", "so", "quite", "today", "again", "honestly", "just", "very", "and", "it", "was", "is"]
LABELS = {"positive": POSITIVE, "negative": NEGATIVE, "neutral": NEUTRAL}


def sentiment_rows(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows, seen = [], set()
    while len(rows) < count:
        label = rng.choice(sorted(LABELS))
        words = [rng.choice(SUBJECTS), rng.choice(["was", "is"])] + rng.sample(FILLER, rng.randint(0, 3))
        words += [rng.choice(LABELS[label])] + rng.sample(FILLER, rng.randint(0, 4))
        text = " ".join(words)
        if text not in seen:
            seen.add(text)
            rows.append((text, label))
    return rows


def write_vocab(path: Path) -> None:
    words = sorted({w for group in (POSITIVE, NEGATIVE, NEUTRAL, FILLER) for w in group}
                   | {w for s in SUBJECTS for w in s.split()})
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'")
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + letters + ["##" + c for c in letters] + words
    path.write_text("\n".join(dict.fromkeys(tokens)) + "\n")


@pytest.fixture(scope="session")
def tiny_teacher_dir(tmp_path_factory) -> Path:
    """A 2-layer BERT encoder without a classification head (kdedge must fine-tune it first)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    write_vocab(folder / "vocab.txt")
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "reviews.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review", "stars"])
        writer.writerows(sentiment_rows(900, seed=1))
    return path


def tiny_recipe(teacher_dir: Path, data_path: Path, **sections):
    """A recipe sized for seconds on 2 cores; `sections` override fields, e.g. distill={'epochs': 1}."""
    from kdedge.recipe import Recipe

    values = {
        "name": "tiny",
        "teacher": {"name": str(teacher_dir), "epochs": 10, "learning_rate": 2e-3, "batch_size": 32},
        "data": {"source": str(data_path), "text_column": "review", "label_column": "stars", "max_length": 32,
                 "train_size": 300, "dev_size": 150, "test_size": 150},
        "student": {"target": None, "max_params": 12000, "dropout": 0.1},
        "distill": {"epochs": 6, "batch_size": 32, "learning_rate": 5e-3, "patience": 4},
    }
    for section, fields in sections.items():
        values.setdefault(section, {}).update(fields)
    return Recipe.from_dict(values)


@pytest.fixture(scope="session")
def artifact(tiny_teacher_dir, tiny_csv, tmp_path_factory) -> Path:
    """A small artifact written by `compress` on the tiny teacher, shared by the runtime and server tests."""
    from kdedge.pipeline.compress import compress

    root = tmp_path_factory.mktemp("runtime")
    compress(tiny_recipe(tiny_teacher_dir, tiny_csv, distill={"epochs": 2}), root / "artifact", root / "run")
    return root / "artifact"


PERSONS = ["table", "report", "number", "paper"]
PLACES = [("lovely", "superb"), ("happy", "fun"), ("blue", "weather")]


def ner_sentences(count: int, seed: int) -> list[list[tuple[str, str]]]:
    """Sentences of filler words with a person (one word) and/or a place (two words), BIO-tagged."""
    rng = random.Random(seed)
    sentences, seen = [], set()
    while len(sentences) < count:
        words = [(w, "O") for w in rng.sample(FILLER + ["the", "movie"], rng.randint(2, 6))]
        entities = []
        if rng.random() < 0.8:
            entities.append([(rng.choice(PERSONS), "B-person")])
        if rng.random() < 0.6:
            first, second = rng.choice(PLACES)
            entities.append([(first, "B-geo-loc"), (second, "I-geo-loc")])
        for entity in entities:
            position = rng.randint(0, len(words))
            words[position:position] = entity
        key = " ".join(w for w, _ in words)
        if key not in seen:
            seen.add(key)
            sentences.append(words)
    return sentences


@pytest.fixture(scope="session")
def tiny_conll(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ner") / "tweets.conll"
    blocks = ["\n".join(f"{word}\t{tag}" for word, tag in sentence) for sentence in ner_sentences(400, seed=2)]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def tiny_ner_recipe(teacher_dir: Path, conll: Path, transfer: Path, **sections):
    """NER on the tiny teacher: tagged sentences, the tiny sentiment reviews as unlabelled transfer texts."""
    data = {"source": str(conll), "task": "token-classification", "text_column": "review", "label_column": "tags",
            "transfer": str(transfer), "max_length": 32, "train_size": 200, "dev_size": 80, "test_size": 80,
            **sections.pop("data", {})}
    return tiny_recipe(teacher_dir, conll, data=data, **sections)


@pytest.fixture(scope="session")
def ner_artifact(tiny_teacher_dir, tiny_conll, tiny_csv, tmp_path_factory):
    """A tiny NER artifact written by `compress` (BiLSTM tagger), shared by the NER and runtime tests."""
    from kdedge.pipeline.compress import compress

    root = tmp_path_factory.mktemp("ner")
    result = compress(tiny_ner_recipe(tiny_teacher_dir, tiny_conll, tiny_csv), root / "artifact", root / "run")
    return result, root / "artifact"
