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

    # labelled data: a file, a `save_to_disk` folder, a hub dataset `NAME[:CONFIG][@SPLIT]` or `builtin:...`
    source: str = "builtin:tweet-sentiment"
    # text classification, or token classification (NER, BIO tags)
    task: Literal["sequence-classification", "token-classification"] = "sequence-classification"
    text_column: str = "text"  # the column (or key) holding the text; for NER the words
    label_column: str = "label"  # the column holding the label; for NER the tags
    encoding: str = "utf-8"  # the data file's text encoding, e.g. `latin-1`
    labels: tuple[str, ...] | None = None  # label names in output order (default: as found in the data, sorted)
    max_length: int = 64  # tokens per text; longer texts are truncated (also at serving time)
    # labelled rows to train on (count or fraction); the rest of the labelled rows join the transfer set
    train_size: int | float | None = None
    # rows (count or fraction) for the dev split: early stopping, checkpoints and the shipped variant are chosen on it
    dev_size: int | float = 0.1
    test_size: int | float = 0.1  # rows (count or fraction) held out for the reported test metrics
    transfer: str | None = None  # an extra file (or dataset) of unlabelled texts for the transfer set
    transfer_encoding: str | None = None  # the transfer file's, when it differs from `encoding`
    max_transfer: int | None = None  # cap on transfer texts (a seeded sample); null keeps them all
    seed: int = 0  # seed of the deterministic train/dev/test split
    # synthesise transfer text from the train texts: true, false, or null (when the transfer set is small)
    augment: bool | None = None
    augment_factor: int = 10  # augmentation grows the transfer set to this many times the train split
    augment_max: int = 40_000  # at most this many synthesised texts
