"""Where data comes from: a file, a built-in set, a `save_to_disk` folder, or a Hugging Face hub dataset.

`data.source` and `data.transfer` name one of:
- a CSV/TSV/JSONL/Parquet file (or CoNLL for NER), or `builtin:tweet-sentiment` / `builtin:tweet-ner`;
- a folder written by `Dataset.save_to_disk` or `DatasetDict.save_to_disk`;
- a hub dataset, `NAME[:CONFIG][@SPLIT]`, optionally prefixed `hf:` (e.g. `glue:sst2`,
  `tweet_eval:sentiment`, `hf:stanfordnlp/imdb@train`); loaded with `datasets.load_dataset`, so a copy
  in the local cache works offline.
The Python API also takes an in-memory `datasets.Dataset` or `DatasetDict`, which is saved to a folder
in the run directory (`materialise`) and then read like any folder.

A source with its own splits (a `DatasetDict`, a hub dataset without `@SPLIT`) keeps them: `train`,
`validation` (or `dev`, `valid`) and `test` are used as given, with ClassLabel ids read as their names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdedge.errors import DataError

SPLIT_NAMES = {"train": ("train",), "dev": ("validation", "dev", "valid", "val"), "test": ("test",)}
FILE_SUFFIXES = (".csv", ".tsv", ".tab", ".jsonl", ".json", ".parquet", ".conll", ".bio", ".txt", ".iob")
HUB_ID = re.compile(r"^(?:hf:)?(?P<name>[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?)(?::(?P<config>[\w.-]+))?(?:@(?P<split>[\w.\[\]:%-]+))?$")


@dataclass(frozen=True)
class SourceSplits:
    """Columns read from a source, by split (`train`, and `dev`/`test` when the source has its own)."""

    splits: dict[str, dict[str, list]]
    label_names: tuple[str, ...] | None = None  # the label column's ClassLabel names, in id order

    @property
    def given(self) -> bool:
        return set(self.splits) != {"train"}


def is_dataset_folder(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in ("dataset_dict.json", "state.json",
                                                                        "dataset_info.json"))


def hub_reference(source: str) -> tuple[str, str | None, str | None] | None:
    """(name, config, split) when `source` reads as a hub dataset rather than a local path."""
    if source.startswith("builtin:"):
        return None
    if not source.startswith("hf:"):
        path = Path(source).expanduser()
        if (path.exists() or path.suffix.lower() in FILE_SUFFIXES or source.startswith((".", "/", "~"))
                or source.count("/") > 1):
            return None
    match = HUB_ID.match(source)
    if match is None:
        return None
    return match["name"], match["config"], match["split"]


def is_in_memory(data: Any) -> bool:
    try:
        from datasets import Dataset, DatasetDict
    except ImportError:  # pragma: no cover - datasets is a core dependency
        return False
    return isinstance(data, (Dataset, DatasetDict))


def describe_source(data: Any) -> tuple[str, str]:
    """A run name and a description for a `--data` value (path, hub id or in-memory dataset)."""
    if is_in_memory(data):
        return "dataset", "own data from an in-memory datasets.Dataset"
    text = str(data)
    reference = hub_reference(text)
    if reference is not None:
        name, config, _ = reference
        return re.sub(r"[^\w.-]+", "-", f"{name.split('/')[-1]}{'-' + config if config else ''}"), f"hub dataset {text}"
    path = Path(text)
    return (path.stem or path.name or "data"), f"own data from {path.name}"


def materialise(data: Any, folder: Path) -> str:
    """An in-memory Dataset/DatasetDict saved under `folder` (once per content fingerprint); its path."""
    from datasets import DatasetDict
    from datasets.utils import logging as datasets_logging

    datasets_logging.disable_progress_bar()
    parts = data.values() if isinstance(data, DatasetDict) else [data]
    fingerprint = "-".join(part._fingerprint for part in parts)[:64]
    target = Path(folder) / f"dataset-{fingerprint}"
    if not is_dataset_folder(target):
        partial = target.with_name(target.name + ".partial")
        data.save_to_disk(str(partial))
        partial.rename(target)
    return str(target)


def read_source(source: str, columns: list[str]) -> SourceSplits:
    """The named columns of a dataset folder or hub dataset, by split; DataError names what is missing.
    A hub dataset comes through the user's Hugging Face cache (not the run's): a copy there works offline."""
    dataset = _load(source)
    from datasets import DatasetDict

    if isinstance(dataset, DatasetDict):
        splits = {}
        for role, names in SPLIT_NAMES.items():
            found = next((name for name in names if name in dataset), None)
            if found is not None:
                splits[role] = dataset[found]
        if "train" not in splits:
            if len(dataset) != 1:
                raise DataError(f"{source} has splits {', '.join(dataset)} but no 'train'",
                                hint="name one with @SPLIT (hub) or save the split to use as its own Dataset")
            splits = {"train": next(iter(dataset.values()))}
    else:
        splits = {"train": dataset}
    first = splits["train"]
    for column in columns:
        if column not in first.column_names:
            raise DataError(f"column {column!r} not found in {source}",
                            hint=f"its columns are: {', '.join(first.column_names)}; pass --text-column / --label-column")
    label_names = _class_names(first.features.get(columns[-1])) if len(columns) > 1 else None
    return SourceSplits({role: {column: part[column] for column in columns} for role, part in splits.items()},
                        label_names)


def _class_names(feature) -> tuple[str, ...] | None:
    """The names of a ClassLabel feature, or of a sequence of them (NER tags)."""
    inner = getattr(feature, "feature", None)  # datasets.Sequence / List of ClassLabel
    names = getattr(feature, "names", None) or getattr(inner, "names", None)
    return tuple(str(name) for name in names) if names else None


def _load(source: str):
    from datasets import load_dataset, load_from_disk
    from datasets.utils import logging as datasets_logging

    datasets_logging.disable_progress_bar()
    datasets_logging.set_verbosity(datasets_logging.CRITICAL)
    path = Path(source).expanduser()
    if path.is_dir():
        if not is_dataset_folder(path):
            raise DataError(f"{source} is a folder but not one written by Dataset.save_to_disk",
                            hint="pass a data file, a save_to_disk folder or a hub dataset id")
        try:
            return load_from_disk(str(path))
        except Exception as error:  # datasets' own errors for a damaged folder
            raise DataError(f"cannot read the dataset folder {source}: {error}".splitlines()[0],
                            hint="save it again with save_to_disk") from None
    reference = hub_reference(source)
    if reference is None:
        raise DataError(f"{source} is not a data file, a dataset folder or a hub dataset id",
                        hint="pass a .csv/.jsonl/.parquet file, a save_to_disk folder, or NAME[:CONFIG][@SPLIT]")
    name, config, split = reference
    try:
        return load_dataset(name, config, split=split)
    except (ConnectionError, OSError) as error:
        offline = "offline" in type(error).__name__.lower() or "reach" in str(error) or "offline" in str(error).lower()
        why = ("no network and no copy in the local cache" if offline else
               f"{type(error).__name__}: {str(error).splitlines()[0][:160]}")
        raise DataError(
            f"cannot load hub dataset {name!r}{f' (config {config})' if config else ''}: {why}",
            hint="where there is a network, load it and save it with save_to_disk, then pass that folder "
                 "(--data /path/to/folder); or pass a local .csv/.jsonl/.parquet file") from None
    except ValueError as error:  # an unknown config or split
        raise DataError(f"cannot load hub dataset {source}: {str(error).splitlines()[0][:200]}",
                        hint="check the config name after ':' and the split after '@'") from None
