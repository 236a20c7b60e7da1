"""benchmarks/own_data.py writes the user's file from a corpus (each text once, conflicting labels
dropped, the smaller files part of the larger) and averages the kept share per corpus and row count."""

import csv
import importlib.util
import sys
from pathlib import Path

import pytest


def own_data_module():
    folder = Path(__file__).resolve().parent.parent / "benchmarks"
    sys.path.insert(0, str(folder))  # the script imports its sibling seeds.py
    try:
        spec = importlib.util.spec_from_file_location("own_data_benchmark", folder / "own_data.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


def test_distinct_rows_keep_each_text_once_and_drop_texts_with_two_labels():
    own_data = own_data_module()
    rows = [("good film", "fresh"), (" good film ", "fresh"), ("dull", "rotten"), ("odd", "fresh"), ("odd", "rotten"),
            ("   ", "fresh")]
    assert own_data.distinct_rows(iter(rows)) == {"good film": "fresh", "dull": "rotten"}


def test_a_smaller_file_is_the_start_of_a_larger_one(tmp_path):
    own_data = own_data_module()
    corpus = {f"text {i}": "a" if i % 3 else "b" for i in range(50)}
    own_data.write_rows(tmp_path / "small.csv", "toy", corpus, 10)
    own_data.write_rows(tmp_path / "large.csv", "toy", corpus, 30)
    small, large = ([*csv.DictReader(open(tmp_path / name, encoding="utf-8"))] for name in ("small.csv", "large.csv"))
    assert list(small[0]) == ["text", "label"] and len(small) == 10 and len(large) == 30
    assert small == large[:10]
    assert all(corpus[row["text"]] == row["label"] for row in large)
    with pytest.raises(SystemExit, match="toy has 50 distinct labelled rows, fewer than --rows 51"):
        own_data.write_rows(tmp_path / "too_many.csv", "toy", corpus, 51)


def run(corpus, rows, seed, teacher, student):
    return {"corpus": corpus, "rows": rows, "setting": "default", "seed": seed, "minutes": 1.0, "train": rows * 8 // 10,
            "dev": rows // 10, "test": rows // 10, "transfer": rows * 8, "teacher": teacher, "student": student,
            "variant": "fp32", "compression": 30.0, "verdict": "ok" if student >= 0.95 * teacher else "below"}


def test_the_table_averages_the_kept_share_per_corpus_and_row_count():
    own_data = own_data_module()
    summary = {"command": "python benchmarks/own_data.py", "distinct_rows": {"tweets": 100, "reviews": 50},
               "machine": {"cpu": "test CPU", "cores": 2, "torch": "2", "onnxruntime": "1"}, "rows": [
                   run("tweets", 1000, 0, 0.80, 0.78), run("tweets", 1000, 1, 0.70, 0.70),
                   run("reviews", 1000, 0, 0.80, 0.76)]}
    text = own_data.markdown(summary)
    tweets = next(line for line in text.splitlines() if line.startswith("| tweets | 1,000 | synthetic"))
    assert "97.5%" not in tweets and "98.8% ± 1.8%" in tweets  # (97.5% + 100%) / 2, sd 1.77%
    assert "800 / 100 / 100" in tweets and "| 2 | fp32 x2 | ok x2 |" in tweets
    reviews = next(line for line in text.splitlines() if line.startswith("| reviews | 1,000 | synthetic"))
    assert "95.0% ± 0.0%" in reviews and "| 1 | fp32 x1 | ok x1 |" in reviews
    assert "| tweets | 1,000 | default | 1 | 0.7000 / 0.7000 = 100.0% | ok | 1.0 |" in text
    assert text.index("| tweets | 1,000 | default | 1 |") < text.index("| reviews | 1,000 | default | 0 |")
