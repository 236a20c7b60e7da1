"""Text to padded id arrays, exactly as the student saw them during training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer


class TextEncoder:
    """Tokenize with truncation to `max_length` and pad batches on the right.

    kdedge trains and evaluates through this same class, so the runtime feeds a model the ids it was
    trained on.
    """

    def __init__(self, tokenizer: Tokenizer, max_length: int, pad_token_id: int):
        # A private copy: truncation and padding settings are per-object and must not leak to callers.
        self._tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length)
        self.max_length = max_length
        self.pad_token_id = pad_token_id

    @classmethod
    def from_file(cls, path: str | Path, max_length: int, pad_token_id: int) -> "TextEncoder":
        return cls(Tokenizer.from_file(str(path)), max_length, pad_token_id)

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text (special tokens included, not padded). Without character offsets, which
        nothing here reads: `encode_batch_fast` gives the same ids in a fraction of the time."""
        encode = getattr(self._tokenizer, "encode_batch_fast", self._tokenizer.encode_batch)
        return [encoding.ids for encoding in encode(list(texts))]

    def encode_words(self, texts: list[str]) -> tuple[list[list[int]], list[list[int]]]:
        """For token classification: ids per text, and for each of its words the position of the word's
        first sub-token, or -1 for a word that has no token.

        Words are the text's whitespace-separated pieces (`str.split()`), as in CoNLL files, and the
        positions line up with them one for one: a word the tokenizer turns into nothing (a zero-width
        space, a lone combining mark, a variation selector) or one truncation cut off gets -1, so no later
        word shifts onto another's position. At most `max_length` words are reported (a model has no
        more positions to label; the words after them are cut off anyway).
        """
        words = [text.split() for text in texts]
        encodings = self._tokenizer.encode_batch(words, is_pretokenized=True)
        id_lists, firsts = [], []
        for encoding, text_words in zip(encodings, words, strict=True):
            first = [-1] * min(len(text_words), self.max_length)
            for position, word in enumerate(encoding.word_ids):
                if word is not None and word < len(first) and first[word] < 0:
                    first[word] = position
            id_lists.append(encoding.ids)
            firsts.append(first)
        return id_lists, firsts

    def pad(self, id_lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Right-pad to the longest sequence: (input_ids, attention_mask), both int64 [batch, seq]."""
        width = max([1, *(len(ids) for ids in id_lists)])
        input_ids = np.full((len(id_lists), width), self.pad_token_id, dtype=np.int64)
        attention_mask = np.zeros((len(id_lists), width), dtype=np.int64)
        for row, ids in enumerate(id_lists):
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
        return input_ids, attention_mask


def length_buckets(id_lists: list[list[int]], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, so little compute goes to padding."""
    order = sorted(range(len(id_lists)), key=lambda i: len(id_lists[i]))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
