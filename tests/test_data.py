import json

import pandas as pd
import pytest

from kdedge.data.readers import load_task_data, read_columns
from kdedge.errors import DataError
from kdedge.recipe import DataConfig


def config(path, **fields):
    values = {"source": str(path), "text_column": "review", "label_column": "stars", "train_size": 300,
              "dev_size": 100, "test_size": 100}
    return DataConfig(**{**values, **fields})


def test_split_sizes_and_transfer_set(tiny_csv):
    data = load_task_data(config(tiny_csv))
    assert (len(data.train), len(data.dev), len(data.test)) == (300, 100, 100)
    assert data.labels == ("negative", "neutral", "positive")
    # rows beyond train_size become unlabelled transfer texts; train texts are in the transfer set too
    assert len(data.transfer) == 900 - 200
    assert set(data.train.texts) <= set(data.transfer)


def test_split_is_deterministic_and_never_leaks(tiny_csv):
    first, second = load_task_data(config(tiny_csv)), load_task_data(config(tiny_csv))
    assert first.fingerprint() == second.fingerprint()
    held_out = set(first.dev.texts) | set(first.test.texts)
    assert not held_out & set(first.transfer)


def test_duplicates_are_dropped_before_splitting(tmp_path):
    path = tmp_path / "dupes.csv"
    rows = [{"review": f"text {i % 50}", "stars": "a" if i % 2 else "b"} for i in range(200)]
    pd.DataFrame(rows).to_csv(path, index=False)
    data = load_task_data(config(path, train_size=None, dev_size=5, test_size=5))
    assert len(data.train) + len(data.dev) + len(data.test) == 50
    assert any("duplicate" in note for note in data.notes)


@pytest.mark.parametrize("suffix", ["tsv", "jsonl", "parquet"])
def test_reads_other_formats(tmp_path, tiny_csv, suffix):
    frame = pd.read_csv(tiny_csv)
    path = tmp_path / f"data.{suffix}"
    if suffix == "tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == "jsonl":
        path.write_text("\n".join(json.dumps(row) for row in frame.to_dict("records")))
    else:
        frame.to_parquet(path)
    assert len(read_columns(str(path), ["review", "stars"], "utf-8")["review"]) == 900


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_task_data(config(tmp_path / "nope.csv"))


def test_wrong_column_lists_the_real_columns(tiny_csv):
    with pytest.raises(DataError) as error:
        load_task_data(config(tiny_csv, text_column="body"))
    assert "'body'" in error.value.message and "review" in error.value.hint


def test_unknown_label_names_the_label(tiny_csv):
    with pytest.raises(DataError) as error:
        load_task_data(config(tiny_csv, labels=("negative", "positive")))
    assert "'neutral'" in error.value.message


def test_wrong_encoding_says_how_to_fix_it(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("review,stars\n".encode() + "caf\xe9 ok,a\nbad,b\n".encode("latin-1") * 20)
    with pytest.raises(DataError, match="decode"):
        load_task_data(config(path, train_size=None, dev_size=2, test_size=2))


def test_too_few_rows_for_the_requested_split(tiny_csv):
    with pytest.raises(DataError, match="cannot fill"):
        load_task_data(config(tiny_csv, train_size=5000))


def test_rows_without_labels_join_the_transfer_set(tmp_path):
    path = tmp_path / "partial.csv"
    rows = [{"review": f"text number {i}", "stars": ("a", "b", None)[i % 3]} for i in range(90)]
    pd.DataFrame(rows).to_csv(path, index=False)
    data = load_task_data(config(path, train_size=None, dev_size=5, test_size=5))
    assert len(data.train) == 50
    assert len(data.transfer) == 50 + 30
