"""Text to padded id arrays, exactly as the student saw them during training.

With casing (`casing_stride` > 0, a student trained with `student.casing`), each id also carries the
casing of the word its token belongs to, which an uncased tokenizer throws away: the id becomes
`token id + casing class × casing_stride` (classes in `casing_class`), and the model splits the two
again. Padding and special tokens have class 0. A word is a whitespace-separated piece of the text
(`str.split()`), as in `encode_words`: every token of "Hello," has the class of "Hello,", so a text
gets the same ids whether it is encoded whole or word by word.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from kdedge_runtime.word_ids import WordIds

_PIECE = re.compile(r"\S+")  # a word, as str.split() finds them
CASING_CLASSES = 7  # none (special tokens, padding), lower, Title, UPPER, Mixed, with digits, no letters


def casing_class(word: str) -> int:
    """The casing class of a word: 1 lower (and letters without case), 2 Title (or one capital),
    3 UPPER, 4 MiXed, 5 with a digit, 6 no letters or digits (punctuation, emoji)."""
    if any(character.isdigit() for character in word):
        return 5
    cased = [character for character in word if character.isupper() or character.islower()]
    if not cased:
        return 1 if any(character.isalpha() for character in word) else 6
    if all(character.islower() for character in cased):
        return 1
    if cased[0].isupper() and all(character.islower() for character in cased[1:]):
        return 2
    return 3 if all(character.isupper() for character in cased) else 4


@dataclass(frozen=True)
class Encoded:
    """Texts as the model reads them: ids per text (not padded), for word-level outputs each word's
    first-token position (`TextEncoder.encode_words`; None otherwise), and whether each text was cut at
    max_length."""

    ids: list[list[int]]
    firsts: list[list[int]] | None
    truncated: list[bool]


class TextEncoder:
    """Tokenize with truncation to `max_length` and pad batches on the right.

    kdedge trains and evaluates through this same class, so the runtime feeds a model the ids it was
    trained on. `casing_stride` > 0 folds each word's casing class into its tokens' ids (see above).
    """

    def __init__(self, tokenizer: Tokenizer, max_length: int, pad_token_id: int, casing_stride: int = 0):
        # A private copy: truncation and padding settings are per-object and must not leak to callers.
        self._tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length)
        self.max_length = max_length
        self.pad_token_id = pad_token_id
        self.casing_stride = casing_stride
        # the same ids from a cache of each word's ids, where the tokenizer allows it (word_ids.py)
        self._word_ids = WordIds.of(self._tokenizer, max_length, self._encode_whole, self._word_casing)

    @classmethod
    def from_file(cls, path: str | Path, max_length: int, pad_token_id: int, casing_stride: int = 0) -> "TextEncoder":
        return cls(Tokenizer.from_file(str(path)), max_length, pad_token_id, casing_stride)

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text (special tokens included, not padded). Without casing, no character
        offsets are needed: `encode_batch_fast` gives the same ids in a fraction of the time."""
        return self.encode_flagged(texts).ids

    def encode_flagged(self, texts: list[str], by_words: bool = False) -> Encoded:
        """`encode` (or with `by_words`, `encode_words`), with each text's truncation flag: the same ids."""
        texts = list(texts)
        if by_words:
            return Encoded(*self._encode_words(texts))
        encode = self._word_ids.encode if self._word_ids is not None else self._encode_whole
        id_lists, truncated = encode(texts)
        return Encoded(id_lists, None, truncated)

    def _encode_whole(self, texts: list[str]) -> tuple[list[list[int]], list[bool]]:
        """Whole texts through the tokenizer: ids per text and whether each was cut at max_length."""
        if self.casing_stride:
            encodings = self._tokenizer.encode_batch(texts)
            id_lists = [self._with_casing(encoding, text) for encoding, text in zip(encodings, texts, strict=True)]
        else:
            encodings = getattr(self._tokenizer, "encode_batch_fast", self._tokenizer.encode_batch)(texts)
            id_lists = [encoding.ids for encoding in encodings]
        return id_lists, [bool(encoding.overflowing) for encoding in encodings]

    def _word_casing(self, word: str, ids: list[int]) -> list[int]:
        """A word's ids with its casing class folded in (every token of a word has the word's class)."""
        if not self.casing_stride:
            return ids
        shift = casing_class(word) * self.casing_stride
        return [token + shift for token in ids]

    def _with_casing(self, encoding, text: str, words: list[str] | None = None) -> list[int]:
        """The encoding's ids with each token's word casing folded in. With `words` (pre-split input) a
        token's word is `words[word_id]`; else it is the whitespace-separated piece of `text` in which
        the token starts."""
        if words is not None:
            classes = [casing_class(words[word]) if word is not None else 0 for word in encoding.word_ids]
        else:
            pieces = [(match.start(), casing_class(match.group())) for match in _PIECE.finditer(text)]
            starts = [start for start, _ in pieces]
            classes = [pieces[max(bisect.bisect_right(starts, start) - 1, 0)][1] if word is not None and pieces else 0
                       for word, (start, _) in zip(encoding.word_ids, encoding.offsets, strict=True)]
        return [token + casing * self.casing_stride for token, casing in zip(encoding.ids, classes, strict=True)]

    def encode_words(self, texts: list[str]) -> tuple[list[list[int]], list[list[int]]]:
        """For token classification: ids per text, and for each of its words the position of the word's
        first sub-token, or -1 for a word that has no token.

        Words are the text's whitespace-separated pieces (`str.split()`), as in CoNLL files, and the
        positions line up with them one for one: a word the tokenizer turns into nothing (a zero-width
        space, a lone combining mark, a variation selector) or one truncation cut off gets -1, so no later
        word shifts onto another's position. At most `max_length` words are reported (a model has no
        more positions to label; the words after them are cut off anyway).
        """
        id_lists, firsts, _ = self._encode_words(texts)
        return id_lists, firsts

    def _encode_words(self, texts: list[str]) -> tuple[list[list[int]], list[list[int]], list[bool]]:
        """`encode_words` with each text's truncation flag, from the word-id cache where there is one."""
        if self._word_ids is not None:
            return self._word_ids.encode_words(texts)
        return self._encode_words_whole(texts)

    def _encode_words_whole(self, texts: list[str]) -> tuple[list[list[int]], list[list[int]], list[bool]]:
        words = [text.split() for text in texts]
        encodings = self._tokenizer.encode_batch(words, is_pretokenized=True)
        id_lists, firsts = [], []
        for encoding, text_words in zip(encodings, words, strict=True):
            first = [-1] * min(len(text_words), self.max_length)
            for position, word in enumerate(encoding.word_ids):
                if word is not None and word < len(first) and first[word] < 0:
                    first[word] = position
            id_lists.append(self._with_casing(encoding, "", text_words) if self.casing_stride else encoding.ids)
            firsts.append(first)
        return id_lists, firsts, [bool(encoding.overflowing) for encoding in encodings]

    def pad(self, id_lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Right-pad to the longest sequence: (input_ids, attention_mask), both int64 [batch, seq]."""
        if len(id_lists) == 1 and id_lists[0]:  # one text (a server's batch of 1): nothing to pad
            input_ids = np.array(id_lists, dtype=np.int64)
            return input_ids, np.ones_like(input_ids)
        lengths = np.fromiter(map(len, id_lists), dtype=np.int64, count=len(id_lists))
        width = max(1, int(lengths.max(initial=0)))
        attention_mask = np.arange(width) < lengths[:, None]
        input_ids = np.full((len(id_lists), width), self.pad_token_id, dtype=np.int64)
        # a boolean mask fills row by row, left to right: the texts' ids in order
        input_ids[attention_mask] = np.fromiter(chain.from_iterable(id_lists), dtype=np.int64, count=int(lengths.sum()))
        return input_ids, attention_mask.astype(np.int64)


def length_buckets(id_lists: list[list[int]], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, so little compute goes to padding."""
    order = sorted(range(len(id_lists)), key=lambda i: len(id_lists[i]))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
