"""The data's configuration (the recipe's `data` section)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class DataConfig:
    """Labelled data, how it is split, and the unlabelled transfer set.

    `source` is a CSV/TSV/JSONL/Parquet file or `builtin:tweet-sentiment`. For `task:
    token-classification` (NER) it is a CoNLL file (word and BIO tag per line), JSONL/Parquet with word
    and tag lists, or `builtin:tweet-ner`; `transfer` then gives plain texts (`text_column`) such as
    `builtin:tweet-sentiment`. Sizes are row counts
    (int) or fractions of the deduplicated rows (float). Labelled rows beyond `train_size` join the
    transfer set with their labels dropped, as XtremeDistil does; `transfer` adds an unlabelled file.

    `augment` synthesises transfer text from the train texts (masking, similar-word swaps and n-gram
    sampling: `kdedge.data.augment`) until the transfer set holds `augment_factor` x the train split
    (at most `augment_max` texts): on when true, off when false, and by default (null) on when the
    transfer set has fewer unlabelled texts beyond the train split than the train split itself.
    """

    source: str = "builtin:tweet-sentiment"
    task: Literal["sequence-classification", "token-classification"] = "sequence-classification"
    text_column: str = "text"
    label_column: str = "label"
    encoding: str = "utf-8"
    labels: tuple[str, ...] | None = None
    max_length: int = 64
    train_size: int | float | None = None
    dev_size: int | float = 0.1
    test_size: int | float = 0.1
    transfer: str | None = None
    transfer_encoding: str | None = None  # the transfer file's, when it differs from `encoding`
    max_transfer: int | None = None
    seed: int = 0
    augment: bool | None = None
    augment_factor: int = 10
    augment_max: int = 40_000
