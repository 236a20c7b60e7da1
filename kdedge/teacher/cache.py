"""The teacher's outputs over each split, computed once and kept on disk in fixed-size chunks.

Layout: `<folder>/<split>/meta.json` (the key of the teacher and data that produced it, the row count
and chunk size) and `<folder>/<split>/<field>/chunk-00000.<key>.npy`, one file per field and chunk, each
named with the key it was computed under and read only under that key. Fields
are `logits` and `hidden-<layer>` (the teacher's hidden states of that layer, averaged over each
text's real tokens), or for token classification `word-hidden-<layer>` (that layer's state at each word's
first sub-token, [texts, max_length, width], kept in float16). A chunk is written atomically, so an interrupted run resumes at the first
missing chunk; `shard=(i, n)` computes only the chunks whose number is i modulo n, so that n
processes (or machines sharing the folder) can label a large transfer set together. Reading maps
chunks into memory lazily: training on millions of texts holds one batch of targets at a time.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from kdedge.errors import ConfigError
from kdedge.progress import Reporter

CHUNK_ROWS = 4096


def hidden_field(layer: int, per_word: bool = False) -> str:
    """The cache field of a teacher layer's states: pooled per text, or one row per word (NER)."""
    return f"word-hidden-{layer}" if per_word else f"hidden-{layer}"


def parse_shard(text: str) -> tuple[int, int]:
    """`"i/n"` → (i, n) with 0 ≤ i < n."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"cannot read shard {text!r}", hint="write it as i/n, e.g. 0/4 for the first of four") from None
    if not 0 <= index < count:
        raise ConfigError(f"shard {text!r} is out of range", hint=f"i must be between 0 and {count - 1}")
    return index, count


class ChunkedArray:
    """A read-only 2-D array stored as chunk files; `array[indices]` gathers rows in the order asked."""

    def __init__(self, folder: Path, rows: int, chunk_rows: int, key: str):
        self.folder, self.rows, self.chunk_rows, self.key = folder, rows, chunk_rows, key
        self._chunks: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.rows

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.rows, *self._chunk(0).shape[1:]) if self.rows else (0,)

    def _chunk(self, number: int) -> np.ndarray:
        if number not in self._chunks:
            self._chunks[number] = np.load(self.folder / _chunk_name(number, self.key), mmap_mode="r")
        return self._chunks[number]

    def __getitem__(self, indices) -> np.ndarray:
        indices = np.arange(self.rows)[indices] if isinstance(indices, slice) else np.asarray(indices)
        chunk_numbers, offsets = np.divmod(indices, self.chunk_rows)
        first = self._chunk(0) if self.rows else np.zeros((0, 0), np.float32)
        out = np.empty((len(indices), *first.shape[1:]), dtype=first.dtype)
        for number in np.unique(chunk_numbers):
            where = chunk_numbers == number
            out[where] = self._chunk(int(number))[offsets[where]]
        return out

    def numpy(self) -> np.ndarray:
        return self[np.arange(self.rows)]


class TeacherCache:
    def __init__(self, folder: str | Path, key: str, chunk_rows: int = CHUNK_ROWS):
        self.folder, self.key, self.chunk_rows = Path(folder), key, chunk_rows

    def missing_chunks(self, split: str, rows: int, fields: Sequence[str]) -> list[int]:
        chunks = range(-(-rows // self.chunk_rows))
        if not self._current(split, rows):
            return list(chunks)
        return [c for c in chunks if not all((self.folder / split / f / _chunk_name(c, self.key)).is_file() for f in fields)]

    def fill(
        self,
        split: str,
        texts: Sequence[str],
        fields: Sequence[str],
        compute: Callable[[Sequence[str], Sequence[str]], dict[str, np.ndarray]],
        reporter: Reporter | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> int:
        """Compute the missing chunks of `fields` that belong to `shard`; returns how many were computed.

        `compute(texts, fields)` returns one array per field with a row per text.
        """
        reporter = reporter or Reporter(quiet=True)
        if not self._current(split, len(texts)):
            self._reset(split, len(texts))
        todo = [c for c in self.missing_chunks(split, len(texts), fields) if c % shard[1] == shard[0]]
        if not todo:
            return 0
        rows = sum(min(self.chunk_rows, len(texts) - c * self.chunk_rows) for c in todo)
        with reporter.progress(f"teacher outputs {split}", rows) as task:
            for number in todo:
                start = number * self.chunk_rows
                chunk_texts = texts[start : start + self.chunk_rows]
                needed = [f for f in fields if not (self.folder / split / f / _chunk_name(number, self.key)).is_file()]
                arrays = compute(chunk_texts, needed)
                for name in needed:
                    _save_atomic(self.folder / split / name / _chunk_name(number, self.key), arrays[name])
                task.advance(len(chunk_texts))
        return len(todo)

    def array(self, split: str, field: str) -> ChunkedArray:
        meta = json.loads((self.folder / split / "meta.json").read_text())
        missing = self.missing_chunks(split, meta["rows"], [field])
        if meta["key"] != self.key or missing:
            raise ConfigError(
                f"the teacher cache for {split}/{field} is incomplete ({len(missing)} chunks missing)",
                hint="run every shard of `kdedge label` (or `kdedge label` without --shard) first",
            )
        return ChunkedArray(self.folder / split / field, meta["rows"], meta["chunk_rows"], self.key)

    def _reset(self, split: str, rows: int) -> None:
        """Start `split` afresh for this key. Shards started at the same moment all find no current
        meta.json; under an exclusive lock only the first resets, and the others, checking again,
        keep what it (and any shard since) wrote."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f".{split}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self._current(split, rows):
                return
            shutil.rmtree(self.folder / split, ignore_errors=True)
            (self.folder / split).mkdir(parents=True, exist_ok=True)
            _write_json(self.folder / split / "meta.json", {"key": self.key, "rows": rows, "chunk_rows": self.chunk_rows})

    def _current(self, split: str, rows: int) -> bool:
        meta_path = self.folder / split / "meta.json"
        if not meta_path.is_file():
            return False
        meta = json.loads(meta_path.read_text())
        return meta.get("key") == self.key and meta.get("rows") == rows and meta.get("chunk_rows") == self.chunk_rows


def _chunk_name(number: int, key: str) -> str:
    """A chunk's file carries the cache key it was computed under: a chunk that another run (another
    recipe) wrote into the same split is never read as this run's, even when the two interleave."""
    return f"chunk-{number:05d}.{key}.npy"


def _save_atomic(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.partial.npy")
    dtype = np.float16 if array.dtype == np.float16 else np.float32  # word states are kept at half size
    np.save(partial, np.ascontiguousarray(array, dtype=dtype))
    os.replace(partial, path)


def _write_json(path: Path, value: dict) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(value))
    os.replace(partial, path)
