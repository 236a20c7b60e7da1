"""Property-based tests (hypothesis): the encoder and the server's request parsing on arbitrary input."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from kdedge_runtime.encoding import TextEncoder
from kdedge_runtime.serve import RequestError, ServeConfig, parse_request

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "##a", "##b", "ab", "é"]


def make_encoder(max_length: int, casing_stride: int = 0) -> TextEncoder:
    tokenizer = Tokenizer(models.WordPiece({t: i for i, t in enumerate(VOCAB)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)  # strips accents and zero-width characters
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                             special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return TextEncoder(tokenizer, max_length, 0, casing_stride)


ENCODERS = {length: make_encoder(length) for length in (4, 8, 32)}
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=60) | st.lists(
    st.sampled_from(["a", "ab", "é", "\u200b", "\u0301", "\ufe0f", " ", "\t", "x", "\u3000", "b\u200bb"]),
    max_size=30).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(TEXT, min_size=1, max_size=4), max_length=st.sampled_from(sorted(ENCODERS)))
def test_every_word_gets_a_position_or_minus_one(texts, max_length):
    encoder = ENCODERS[max_length]
    id_lists, firsts = encoder.encode_words(texts)
    assert len(id_lists) == len(firsts) == len(texts)
    for text, ids, first in zip(texts, id_lists, firsts, strict=True):
        assert len(ids) <= max_length
        assert len(first) == min(len(text.split()), max_length)  # one entry per word, in order
        present = [position for position in first if position >= 0]
        assert all(0 < position < len(ids) - 1 for position in present)  # never [CLS] or [SEP]
        assert present == sorted(set(present))  # distinct and increasing: no word takes another's token
        assert all(position == -1 for position in first if position < 0)
    input_ids, mask = encoder.pad(id_lists)
    assert input_ids.shape == mask.shape and input_ids.shape[0] == len(texts)
    assert mask.sum(axis=1).tolist() == [len(ids) for ids in id_lists]


CASED = {length: make_encoder(length, casing_stride=len(VOCAB)) for length in (4, 32)}  # and ENCODERS's
CASED_TEXT = TEXT | st.lists(st.sampled_from(["A", "ab", "Ab", "AB", "aB", "a1", "!", ",", "É", " ", "\u00a0",
                                              "\u2003", "b\u200bB", "\u0301"]), max_size=30).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(CASED_TEXT, min_size=1, max_size=4), max_length=st.sampled_from(sorted(CASED)))
def test_casing_ids_are_the_same_whole_or_word_by_word(texts, max_length):
    """A multi-task student trains its sequence task on whole texts and is served word by word: where the
    tokens are the same both ways, so are their casing classes."""
    plain, cased = ENCODERS[max_length], CASED[max_length]
    same_tokens = plain.encode(texts) == plain.encode_words(texts)[0]  # not for control characters: "0\x1f0"
    assert (cased.encode(texts) == cased.encode_words(texts)[0]) == same_tokens


CONFIG = ServeConfig(max_texts=4, max_body_bytes=2_000, max_text_chars=50)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children,
                                                                                     max_size=4), max_leaves=20)


def check(body: bytes) -> None:
    """Either the texts, all within the limits, or a RequestError with a 4xx status and a message."""
    try:
        texts = parse_request(body, CONFIG)
    except RequestError as error:
        assert error.status in (400, 413, 422) and error.message
        return
    assert 1 <= len(texts) <= CONFIG.max_texts
    assert all(isinstance(t, str) and t.strip() and len(t) <= CONFIG.max_text_chars for t in texts)
    assert all(t.encode("utf-8") for t in texts)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_texts_or_a_4xx(body):
    check(body)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_json_is_texts_or_a_4xx(value):
    check(json.dumps(value).encode())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=60) | st.integers() | st.none(), max_size=6))
def test_any_texts_field_is_texts_or_a_4xx(texts):
    check(json.dumps({"texts": texts}).encode())


@pytest.mark.parametrize("depth", [10, 900, 5_000, 100_000])
def test_nesting_at_any_depth_is_texts_or_a_4xx(depth):
    config = ServeConfig(max_body_bytes=1_000_000)
    body = b'{"texts": ' + b"[" * depth + b'"a"' + b"]" * depth + b"}"
    with pytest.raises(RequestError) as error:
        parse_request(body, config)
    assert error.value.status in (400, 422)
