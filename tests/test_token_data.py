"""NER foundations: BIO repair and spans, sub-token alignment, CoNLL reading, entity-level metrics."""

import numpy as np
import pytest
from tokenizers import Tokenizer

from kdedge.data.bio import Span, ordered_tags, repair_bio, spans
from kdedge.data.metrics import entity_metrics
from kdedge.data.tagged import load_tagged_data, read_conll
from kdedge.errors import DataError
from kdedge.recipe import DataConfig
from kdedge_runtime.encoding import TextEncoder


def test_repair_turns_orphan_inside_tags_into_beginnings():
    assert repair_bio(["O", "I-person", "I-person", "B-geo-loc", "I-person", "O"]) == [
        "O", "B-person", "I-person", "B-geo-loc", "B-person", "O"]
    assert repair_bio(["I-company"]) == ["B-company"]
    assert repair_bio(["B-product", "I-product"]) == ["B-product", "I-product"]


def test_spans_of_a_tag_sequence():
    tags = ["B-person", "I-person", "O", "I-geo-loc", "B-company", "B-company", "I-company"]
    assert spans(tags) == [Span("person", 0, 2), Span("geo-loc", 3, 4), Span("company", 4, 5),
                           Span("company", 5, 7)]
    assert spans(["O", "O"]) == []


def test_tag_order_puts_outside_first_and_rejects_non_bio():
    assert ordered_tags({"I-person", "O", "B-geo-loc", "B-person"}) == (
        "O", "B-geo-loc", "I-geo-loc", "B-person", "I-person")
    with pytest.raises(ValueError, match="not a BIO tag"):
        ordered_tags({"PER"})


def test_first_sub_token_of_each_word(tiny_teacher_dir):
    encoder = TextEncoder(Tokenizer.from_file(str(tiny_teacher_dir / "tokenizer.json")), 16, 0)
    ids, firsts = encoder.encode_words(["the movie wasgreat !"])
    tokens = [encoder._tokenizer.id_to_token(i) for i in ids[0]]
    # [CLS] the movie was ##g ##r ... ! [SEP]: "wasgreat" splits into pieces; only its first one is labelled
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert [tokens[p] for p in firsts[0]] == ["the", "movie", "was", "!"]
    assert len(firsts[0]) == 4 and firsts[0][3] == len(tokens) - 2


def test_truncation_marks_the_words_it_cuts(tiny_teacher_dir):
    encoder = TextEncoder(Tokenizer.from_file(str(tiny_teacher_dir / "tokenizer.json")), 6, 0)
    ids, firsts = encoder.encode_words(["the movie was great and fun today"])
    # 6 positions: [CLS] + 4 words + [SEP]; "and" and "fun" were cut (-1); at most 6 words are reported
    assert len(ids[0]) == 6 and firsts[0] == [1, 2, 3, 4, -1, -1]


def test_read_conll_sentences_and_errors(tmp_path):
    good = tmp_path / "ner.conll"
    good.write_text("-DOCSTART- O\n\nEmpire\tB-facility\nState\tI-facility\n.\tO\n\t\nHi O\nBob B-person\n")
    assert read_conll(good) == [(["Empire", "State", "."], ["B-facility", "I-facility", "O"]),
                                (["Hi", "Bob"], ["O", "B-person"])]
    bad = tmp_path / "bad.conll"
    bad.write_text("Empire\tB-facility\nState\n")
    with pytest.raises(DataError, match="line 2"):
        read_conll(bad)
    wrong = tmp_path / "wrong.conll"
    wrong.write_text("Bob\tPER\n")
    with pytest.raises(DataError, match="not a BIO tag"):
        read_conll(wrong)


def test_builtin_tweet_ner_splits_and_transfer():
    config = DataConfig(source="builtin:tweet-ner", text_column="text", label_column="tags", train_size=1000,
                        dev_size=300, test_size=500, transfer="builtin:tweet-sentiment", transfer_encoding="latin-1",
                        max_transfer=3000)
    data = load_tagged_data(config)
    assert data.labels[0] == "O" and "B-person" in data.labels and len(data.labels) == 21
    assert (len(data.train), len(data.dev), len(data.test)) == (1000, 300, 500)
    assert len(data.transfer) == 3000 and data.transfer[:1000] == data.train.texts
    assert not set(data.test.texts) & set(data.transfer)
    for text, tags in zip(data.dev.texts, data.dev.tags):
        assert len(text.split()) == len(tags) and tags.dtype == np.int64


def test_entity_metrics_follow_conll_rules():
    gold = [["B-person", "I-person", "O", "B-geo-loc"], ["O", "B-company"]]
    predicted = [["B-person", "I-person", "O", "O"], ["O", "I-company"]]  # the orphan I- is repaired to B-
    metrics = entity_metrics(gold, predicted)
    assert metrics["entity_precision"] == 1.0  # both predicted entities are right
    assert metrics["entity_recall"] == pytest.approx(2 / 3)  # geo-loc was missed
    assert metrics["entity_f1"] == pytest.approx(0.8)
    assert metrics["word_accuracy"] == pytest.approx(5 / 6)  # only B-geo-loc→O is wrong after repair
