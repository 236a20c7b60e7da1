"""Data from where it already is: save_to_disk folders (their own splits kept), in-memory datasets, hub ids."""

import subprocess
import sys

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

from kdedge.data.config import DataConfig
from kdedge.data.readers import load_task_data
from kdedge.data.sources import describe_source, hub_reference, materialise
from kdedge.data.tagged import load_tagged_data
from kdedge.errors import DataError

LABELS = ["bad", "good"]
FEATURES = Features({"sentence": Value("string"), "label": ClassLabel(names=LABELS)})


def rows(count, start=0, label=None):
    return {"sentence": [f"review number {start + i} was {'great' if i % 2 else 'awful'}" for i in range(count)],
            "label": [label if label is not None else i % 2 for i in range(count)]}


def config(source, **fields):
    return DataConfig(source=str(source), text_column="sentence", label_column="label", **fields)


def test_a_dataset_folder_without_splits_is_split_like_a_file(tmp_path):
    Dataset.from_dict(rows(100), features=FEATURES).save_to_disk(str(tmp_path / "flat"))
    data = load_task_data(config(tmp_path / "flat", dev_size=10, test_size=20))
    assert (len(data.train), len(data.dev), len(data.test)) == (70, 10, 20)
    assert data.labels == ("bad", "good")  # ClassLabel ids read as their names, in the dataset's order


def test_a_dataset_dicts_own_splits_are_used_as_given(tmp_path):
    parts = DatasetDict({"train": Dataset.from_dict(rows(60), features=FEATURES),
                         "validation": Dataset.from_dict(rows(12, start=100), features=FEATURES),
                         "test": Dataset.from_dict(rows(15, start=200), features=FEATURES)})
    parts.save_to_disk(str(tmp_path / "splits"))
    data = load_task_data(config(tmp_path / "splits", dev_size=0.5, test_size=0.5))  # sizes do not cut given splits
    assert data.test.texts == parts["test"]["sentence"] and data.dev.texts == parts["validation"]["sentence"]
    assert sorted(data.train.texts) == sorted(parts["train"]["sentence"])
    assert [data.labels[i] for i in data.test.labels] == [LABELS[i] for i in parts["test"]["label"]]
    assert any("used the dataset's own splits: train 60, dev 12, test 15" in note for note in data.notes)


def test_an_unlabelled_test_split_gives_way_to_validation(tmp_path):
    # GLUE hides its test labels (-1): validation becomes the test split, dev is cut from train, and the
    # unlabelled test texts join the transfer set
    hidden = {**rows(10, start=300), "label": [-1] * 10}
    DatasetDict({"train": Dataset.from_dict(rows(80), features=FEATURES),
                 "validation": Dataset.from_dict(rows(12, start=100), features=FEATURES),
                 "test": Dataset.from_dict(hidden, features=FEATURES)}).save_to_disk(str(tmp_path / "glue"))
    data = load_task_data(config(tmp_path / "glue", dev_size=8))
    assert len(data.test) == 12 and len(data.dev) == 8 and len(data.train) == 72
    assert set(hidden["sentence"]) <= set(data.transfer)
    assert not set(data.test.texts) & set(data.train.texts + data.dev.texts)


def test_a_text_in_two_given_splits_stays_only_in_the_later_one_and_train_size_caps_train(tmp_path):
    train = rows(50)
    test = {"sentence": train["sentence"][:5] + ["a new text"], "label": train["label"][:5] + [0]}
    DatasetDict({"train": Dataset.from_dict(train, features=FEATURES),
                 "test": Dataset.from_dict(test, features=FEATURES)}).save_to_disk(str(tmp_path / "leaky"))
    data = load_task_data(config(tmp_path / "leaky", dev_size=5, train_size=20))
    assert len(data.test) == 6 and not set(data.test.texts) & set(data.train.texts + data.dev.texts)
    assert len(data.train) == 20 and len(data.transfer) == 20 + 20  # the train texts, then the rest unlabelled
    assert any("dropped 5 train texts that are also in its dev or test split" in note for note in data.notes)


def test_ner_splits_with_class_label_tags(tmp_path):
    tags = ["O", "B-PER", "I-PER"]
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=tags))})

    def sentences(count, start):
        return {"tokens": [["hello", f"name{start + i}", "smith", "there"] for i in range(count)],
                "ner_tags": [[0, 1, 2, 0] for _ in range(count)]}

    DatasetDict({"train": Dataset.from_dict(sentences(30, 0), features=features),
                 "validation": Dataset.from_dict(sentences(6, 100), features=features),
                 "test": Dataset.from_dict(sentences(7, 200), features=features)}).save_to_disk(str(tmp_path / "ner"))
    data = load_tagged_data(DataConfig(source=str(tmp_path / "ner"), task="token-classification",
                                       text_column="tokens", label_column="ner_tags"))
    assert (len(data.train), len(data.dev), len(data.test)) == (30, 6, 7)
    assert data.test.texts[0] == "hello name200 smith there"
    assert [data.labels[i] for i in data.test.tags[0]] == ["O", "B-PER", "I-PER", "O"]


def test_a_dataset_folder_as_the_transfer_set(tmp_path, tiny_csv):
    Dataset.from_dict({"review": [f"an unlabelled tweet {i}" for i in range(40)]}).save_to_disk(str(tmp_path / "t"))
    data = load_task_data(DataConfig(source=str(tiny_csv), text_column="review", label_column="stars",
                                     train_size=100, dev_size=50, test_size=50, transfer=str(tmp_path / "t")))
    assert {f"an unlabelled tweet {i}" for i in range(40)} <= set(data.transfer)


def test_an_in_memory_dataset_is_saved_once_and_read_as_a_folder(tmp_path):
    dataset = Dataset.from_dict(rows(40), features=FEATURES)
    first = materialise(dataset, tmp_path)
    assert materialise(dataset, tmp_path) == first  # same content, same folder
    assert load_task_data(config(first, dev_size=5, test_size=5)).labels == ("bad", "good")
    assert describe_source(dataset)[0] == "dataset"


@pytest.mark.parametrize("source, expected", [
    ("glue:sst2", ("glue", "sst2", None)), ("tweet_eval:sentiment", ("tweet_eval", "sentiment", None)),
    ("hf:stanfordnlp/imdb@train", ("stanfordnlp/imdb", None, "train")), ("imdb@test[:10%]", ("imdb", None, "test[:10%]")),
    ("reviews.csv", None), ("./data", None), ("builtin:tweet-ner", None), ("a/b/c", None),
])
def test_hub_ids(source, expected):
    assert hub_reference(source) == expected


def test_a_folder_that_is_not_a_dataset_is_one_line(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(DataError, match="is a folder but not one written by Dataset.save_to_disk"):
        load_task_data(config(tmp_path / "plain"))


def test_a_hub_dataset_without_network_or_cache_is_one_clear_line(tmp_path, tiny_teacher_dir):
    # the same code path as a real hub id, offline (HF_HUB_OFFLINE: no waiting on retries)
    env = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "hf"), "OMP_NUM_THREADS": "1",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "kdedge", "compress", "--teacher", str(tiny_teacher_dir), "--data",
                           "glue:sst2", "--run-dir", str(tmp_path / "run"), "--output", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "cannot load hub dataset 'glue' (config sst2): no network and no copy in the local cache" in lines[0]
    assert "save_to_disk" in lines[0] and not (tmp_path / "out").exists()
