"""The Python API (`kdedge.compress`, `kdedge.bench`) and experiment tracking (`log_with="tensorboard"`)."""

import pytest
from conftest import sentiment_rows, tiny_recipe
from datasets import Dataset

import kdedge
from kdedge.errors import ConfigError, KdedgeError
from kdedge.tracking import Tracker


def scalars(folder):
    """Every scalar tag TensorBoard event files under `folder` hold, with its (step, value) pairs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found = {}
    for events in folder.rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events.parent))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            found[tag] = [(event.step, event.value) for event in accumulator.Scalars(tag)]
    return found


def test_compress_from_python_with_an_in_memory_dataset_and_tensorboard(tiny_teacher_dir, tiny_csv, tmp_path, caplog,
                                                                        capsys):
    """Also: with no terminal, the default prints nothing, and every step still reaches the `kdedge` logger."""
    caplog.set_level("INFO", logger="kdedge")
    rows = sentiment_rows(600, seed=7)
    dataset = Dataset.from_dict({"review": [text for text, _ in rows], "stars": [label for _, label in rows]})
    recipe = tiny_recipe(tiny_teacher_dir, tiny_csv, distill={"epochs": 2})
    result = kdedge.compress(recipe, data=dataset, output=tmp_path / "artifact", run_dir=tmp_path / "run",
                             log_with="tensorboard")
    assert result.artifact_dir == tmp_path / "artifact" and (result.artifact_dir / "kdedge.json").is_file()
    assert capsys.readouterr().err == ""  # stderr is not a terminal here
    steps_logged = [record.getMessage() for record in caplog.records if record.name == "kdedge"]
    assert any(message.startswith("teacher") or "teacher" in message for message in steps_logged)
    assert any("variants" in message for message in steps_logged) and not any("[/" in m for m in steps_logged)
    assert result.manifest["data"]["source"].startswith(str(tmp_path / "run" / "datasets" / "dataset-"))
    assert result.metrics["student_onnx"]["accuracy"] > 0.5 and result.variant == result.manifest["variant"]
    table = result.table()
    assert "| accuracy |" in table and f"| {result.variant} |" in table
    logged = scalars(tmp_path / "run" / "logs")
    steps = len(logged["teacher/loss"])
    assert steps > 5 and len(logged["teacher/learning_rate"]) == steps
    stage = result.manifest["training"]["history"][0]["stage"]
    assert len(logged[f"distill/{stage}/loss"]) == result.manifest["training"]["history"][0]["steps"]
    evaluations = result.manifest["training"]["history"][0]["history"]
    assert [value for _, value in logged[f"distill/{stage}/dev_score"]] == pytest.approx(
        [row["dev_score"] for row in evaluations])
    assert logged["final/student_onnx/accuracy"][0][1] == pytest.approx(result.metrics["student_onnx"]["accuracy"])
    assert logged["final/teacher/accuracy"][0][1] == pytest.approx(result.metrics["teacher"]["accuracy"])


def test_progress_is_on_by_default_where_there_is_a_terminal(monkeypatch):
    """kdedge.compress(quiet=None) gives the stages a Reporter that prints when stderr is a terminal."""
    import sys

    import kdedge.api as api

    seen = []

    class Stop(Exception):
        pass

    def run(recipe, output, run_dir, reporter, from_stage):
        seen.append(reporter.quiet)
        raise Stop

    monkeypatch.setattr("kdedge.pipeline.compress.compress", run)
    for terminal, quiet in ((True, None), (False, None), (False, False), (True, True)):
        monkeypatch.setattr(sys.stderr, "isatty", lambda terminal=terminal: terminal, raising=False)
        with pytest.raises(Stop):
            api.compress(quiet=quiet, output="unused", run_dir="unused")
    assert seen == [False, True, False, True]


def test_an_unknown_or_missing_tracker_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown tracker 'tensorbored'.*known: .*tensorboard"):
        Tracker(["tensorbored"], tmp_path, "run")
    with pytest.raises(ConfigError, match="the wandb package is not installed.*pip install wandb"):
        Tracker(["wandb"], tmp_path, "run")


def test_bench_from_python(artifact):
    result = kdedge.bench([artifact], batch_sizes=(1, 4), seq_lens=(8,), threads=(1,), max_seconds=0.2,
                          min_seconds=0.05)
    assert {(row.batch_size, row.seq_len) for row in result.results} == {(1, 8), (4, 8)}
    for row in result.results:  # percentiles in order, and throughput is the batch over the median time
        assert row.p50_ms <= row.p90_ms <= row.p99_ms
        assert row.throughput == pytest.approx(row.batch_size / row.p50_ms * 1000)
    table = result.table()
    assert table.startswith("machine: ") and "| model | variant | batch | seq |" in table
    assert sum(line.startswith("| ") for line in table.splitlines()) == 1 + len(result.results)
    with pytest.raises(KdedgeError, match="batch_sizes must be positive integers"):
        kdedge.bench([artifact], batch_sizes=(0,))
    with pytest.raises(KdedgeError, match="is not a kdedge artifact"):
        kdedge.bench([artifact.parent])
