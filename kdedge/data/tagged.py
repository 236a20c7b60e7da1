"""Word-tagged data for token classification (NER): CoNLL files, their split, and the transfer set.

A sentence is a list of words with one BIO tag each. It is kept as its words joined by single spaces,
so that encoders and the teacher cache treat it like any text; `text.split()` gives the words back
(CoNLL words never contain whitespace). The unlabelled transfer set is plain text (e.g. the sentiment
tweets), split into words the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kdedge.data.bio import ordered_tags, split_tag
from kdedge.data.config import DataConfig
from kdedge.data.readers import TaskData, given_splits, read_splits, resolve_source, shuffled_split, transfer_set
from kdedge.errors import DataError

CONLL_SUFFIXES = (".conll", ".bio", ".txt", ".iob")


@dataclass(frozen=True)
class TaggedSplit:
    texts: list[str]  # words joined by single spaces
    tags: list[np.ndarray]  # per word: int64 index into TaskData.labels

    def __len__(self) -> int:
        return len(self.texts)

    def label_bytes(self) -> bytes:
        return b"".join(tags.tobytes() for tags in self.tags)


def read_conll(path: Path, encoding: str = "utf-8") -> list[tuple[list[str], list[str]]]:
    """Sentences of a two-column CoNLL file: `word<TAB or spaces>tag` per line, blank lines between
    sentences, `-DOCSTART-` lines ignored. Extra middle columns (POS, chunk) are skipped."""
    try:
        lines = path.read_text(encoding=encoding).splitlines()
    except UnicodeDecodeError:
        raise DataError(f"cannot decode {path.name} as {encoding}", hint="set data.encoding (e.g. latin-1)") from None
    sentences, words, tags = [], [], []
    for number, line in enumerate([*lines, ""], start=1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                sentences.append((words, tags))
                words, tags = [], []
            continue
        if len(fields) < 2:
            raise DataError(f"{path.name} line {number}: expected 'word<TAB>tag', got {line.strip()!r}",
                            hint="token-classification data is CoNLL: one word and its BIO tag per line")
        try:
            split_tag(fields[-1])
        except ValueError as error:
            raise DataError(f"{path.name} line {number}: {error}", hint="tags must be O, B-TYPE or I-TYPE") from None
        words.append(fields[0])
        tags.append(fields[-1])
    return sentences


def load_tagged_data(config: DataConfig, cache_dir: Path | None = None) -> TaskData:
    """Read, deduplicate and split tagged sentences; build the transfer set from `config.transfer`. A
    dataset folder or hub dataset with its own splits keeps them (`readers.given_splits`)."""
    path = resolve_source(config.source) if config.source.startswith("builtin:") else Path(config.source).expanduser()
    if path.is_file() and path.suffix.lower() in CONLL_SUFFIXES:
        by_split = {"train": read_conll(path, config.encoding)}
        given = False
    else:  # JSONL/Parquet, a dataset folder or a hub dataset: a list of words and a list of tags per row
        source = read_splits(config.source, [config.text_column, config.label_column], config.encoding, cache_dir)
        by_split = {role: _tagged_rows(columns, config, source.label_names) for role, columns in source.splits.items()}
        given = source.given
    notes: list[str] = []
    unique_by_split: dict[str, dict[str, list[str]]] = {}
    total = 0
    for role, sentences in by_split.items():
        unique: dict[str, list[str]] = {}
        for words, tags in sentences:
            words_tags = [(w, t) for w, t in zip(words, tags) if w.strip()]
            text = " ".join(w for w, _ in words_tags)
            if text and text not in unique:
                unique[text] = [t for _, t in words_tags]
        unique_by_split[role], total = unique, total + len(sentences)
    kept = sum(len(unique) for unique in unique_by_split.values())
    if kept < total:
        notes.append(f"dropped {total - kept} duplicate or empty sentences")
    if not kept:
        raise DataError(f"no tagged sentences in {config.source}", hint="check the file's format")
    found = {tag for unique in unique_by_split.values() for tags in unique.values() for tag in tags}
    labels = ordered_tags(found) if config.labels is None else tuple(config.labels)
    unknown = sorted(found - set(labels))
    if unknown:
        raise DataError(f"unknown tag {unknown[0]!r} in {config.source}",
                        hint=f"data.labels allows: {', '.join(labels)}; add it there or fix the data")
    index = {label: i for i, label in enumerate(labels)}
    if given:
        test_items, dev_items, train_items, rest = given_splits(
            {role: list(unique.items()) for role, unique in unique_by_split.items()}, config, notes, minimum_train=1)
    else:
        test_items, dev_items, train_items, rest = shuffled_split(list(unique_by_split["train"].items()), config,
                                                                  "tagged sentences", minimum_train=1)

    def split(part) -> TaggedSplit:
        return TaggedSplit([text for text, _ in part],
                           [np.array([index[t] for t in tags], dtype=np.int64) for _, tags in part])

    test, dev, train = split(test_items), split(dev_items), split(train_items)
    transfer = transfer_set(train, [test, dev], [text for text, _ in rest], config, cache_dir,
                            lambda text: " ".join(text.split()))
    return TaskData(labels, train, dev, test, transfer, notes)


def _tagged_rows(columns: dict[str, list], config: DataConfig,
                 tag_names: tuple[str, ...] | None) -> list[tuple[list[str], list[str]]]:
    """(words, tags) per row; ClassLabel tag ids read as their names."""
    sentences = []
    for row, (words, tags) in enumerate(zip(columns[config.text_column], columns[config.label_column]), start=1):
        if not isinstance(words, list) or not isinstance(tags, list) or len(words) != len(tags):
            raise DataError(f"row {row}: {config.text_column!r} and {config.label_column!r} must be lists of the "
                            "same length (words and their tags)", hint="or provide a CoNLL file")
        if tag_names is not None:
            tags = [tag_names[t] if isinstance(t, int) and 0 <= t < len(tag_names) else t for t in tags]
        sentences.append(([str(w) for w in words], [str(t) for t in tags]))
    return sentences
