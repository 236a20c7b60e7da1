"""TextEncoder and length buckets: the ids a model is fed, built on a tiny WordPiece tokenizer made here."""

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from kdedge_runtime.encoding import TextEncoder, length_buckets

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "play", "##ing", "##ed", "foot", "##ball", "we", "like", "it"]
IDS = {token: i for i, token in enumerate(VOCAB)}
CLS, SEP = IDS["[CLS]"], IDS["[SEP]"]


@pytest.fixture
def tokenizer():
    tokenizer = Tokenizer(models.WordPiece(IDS, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                             special_tokens=[("[CLS]", CLS), ("[SEP]", SEP)])
    return tokenizer


def test_encode_adds_special_tokens_and_splits_words(tokenizer):
    encoder = TextEncoder(tokenizer, max_length=16, pad_token_id=0)
    assert encoder.encode(["we like playing football", "it"]) == [
        [CLS, IDS["we"], IDS["like"], IDS["play"], IDS["##ing"], IDS["foot"], IDS["##ball"], SEP],
        [CLS, IDS["it"], SEP]]
    assert encoder.encode(["zzz"]) == [[CLS, IDS["[UNK]"], SEP]]


def test_encode_truncates_to_max_length_and_keeps_the_last_special_token(tokenizer):
    encoder = TextEncoder(tokenizer, max_length=5, pad_token_id=0)
    (ids,) = encoder.encode(["we like playing football"])
    assert ids == [CLS, IDS["we"], IDS["like"], IDS["play"], SEP]


def test_the_callers_tokenizer_is_left_as_it_was(tokenizer):
    TextEncoder(tokenizer, max_length=4, pad_token_id=0)
    assert tokenizer.truncation is None and tokenizer.padding is None
    assert len(tokenizer.encode("we like playing football").ids) == 8


def test_encode_words_marks_each_words_first_sub_token(tokenizer):
    encoder = TextEncoder(tokenizer, max_length=16, pad_token_id=0)
    id_lists, firsts = encoder.encode_words(["playing football we", "it"])
    assert id_lists[0] == [CLS, IDS["play"], IDS["##ing"], IDS["foot"], IDS["##ball"], IDS["we"], SEP]
    assert firsts == [[1, 3, 5], [1]]


def test_encode_words_drops_the_words_truncation_cut_off(tokenizer):
    encoder = TextEncoder(tokenizer, max_length=5, pad_token_id=0)
    id_lists, firsts = encoder.encode_words(["playing football we"])
    assert id_lists == [[CLS, IDS["play"], IDS["##ing"], IDS["foot"], SEP]]
    assert firsts == [[1, 3, -1]]  # "football" keeps its first piece; "we" was cut off entirely: -1


def test_pad_right_pads_to_the_longest_with_the_pad_id(tokenizer):
    encoder = TextEncoder(tokenizer, max_length=16, pad_token_id=7)
    input_ids, mask = encoder.pad([[2, 4, 3], [2, 3], [2, 9, 10, 11, 3]])
    assert input_ids.dtype == np.int64 and mask.dtype == np.int64
    assert input_ids.tolist() == [[2, 4, 3, 7, 7], [2, 3, 7, 7, 7], [2, 9, 10, 11, 3]]
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]


def test_pad_of_nothing_is_an_empty_batch_of_width_one(tokenizer):
    encoder = TextEncoder(tokenizer, max_length=16, pad_token_id=0)
    input_ids, mask = encoder.pad([])
    assert input_ids.shape == (0, 1) and mask.shape == (0, 1)
    input_ids, mask = encoder.pad([[]])
    assert input_ids.tolist() == [[0]] and mask.tolist() == [[0]]


def test_from_file_reads_a_saved_tokenizer(tokenizer, tmp_path):
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    encoder = TextEncoder.from_file(tmp_path / "tokenizer.json", max_length=6, pad_token_id=0)
    assert encoder.max_length == 6 and encoder.pad_token_id == 0
    assert encoder.encode(["we like it"]) == [[CLS, IDS["we"], IDS["like"], IDS["it"], SEP]]


def test_length_buckets_group_similar_lengths_and_keep_every_index():
    id_lists = [[1] * n for n in (5, 1, 4, 2, 3, 6, 1)]
    buckets = length_buckets(id_lists, batch_size=3)
    assert buckets == [[1, 6, 3], [4, 2, 0], [5]]  # by length, ties in input order
    assert length_buckets([], batch_size=4) == []
    assert length_buckets(id_lists, batch_size=10) == [[1, 6, 3, 4, 2, 0, 5]]


def test_casing_classes():
    from kdedge_runtime.encoding import casing_class

    words = {"hello": 1, "東京": 1, "Hello": 2, "I": 2, "Éclair": 2, "HELLO": 3, "iPhone": 4, "abc1": 5, "2024": 5,
             "!!": 6, "\U0001f600": 6}
    assert {word: casing_class(word) for word in words} == words


def test_casing_is_folded_into_every_token_of_its_word(tokenizer):
    from tokenizers import normalizers

    tokenizer.normalizer = normalizers.Lowercase()  # an uncased tokenizer: the ids alone lose the capitals
    stride = tokenizer.get_vocab_size()
    plain = TextEncoder(tokenizer, max_length=16, pad_token_id=0)
    cased = TextEncoder(tokenizer, max_length=16, pad_token_id=0, casing_stride=stride)
    text = "We like PLAYING football"
    ids = plain.encode([text])[0]
    assert plain.encode([text.lower()])[0] == ids  # what the casing adds back
    folded = cased.encode([text])[0]
    classes = [value // stride for value in folded]
    assert [value % stride for value in folded] == ids
    assert classes == [0, 2, 1, 3, 3, 1, 1, 0]  # [CLS] We like PLAY ##ING foot ##ball [SEP]
    # by words (NER): the same classes, from the whitespace-separated words
    by_words, firsts = cased.encode_words([text])
    assert by_words == [folded] and firsts == [[1, 2, 3, 5]]
    assert cased.pad([folded])[0][0].tolist() == folded  # padding stays the pad id (class 0)
