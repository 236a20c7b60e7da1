"""An artifact cannot point outside itself, every file the runtime or a benchmark loads is hashed, the bytes
checked are the bytes loaded, and the manifest fields that change results are covered by a hash."""

import json
import logging
import shutil

import pytest

from kdedge_runtime import ArtifactError, Predictor
from kdedge_runtime.cli import main as runtime_main


@pytest.fixture
def copy(artifact, tmp_path):
    return shutil.copytree(artifact, tmp_path / "artifact")


def edit(folder, change):
    path = folder / "kdedge.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(("change", "words"), [
    (lambda m: m["files"].update(model="../model.onnx"), "outside the artifact folder"),
    (lambda m: m["files"].update(tokenizer="/etc/hostname"), "relative paths inside its folder"),
    (lambda m: m["hashes"].pop("tokenizer.json"), "tokenizer.json in"),
    (lambda m: m.update(labels=["positive", "neutral", "negative"]), "was edited"),
    (lambda m: m.update(max_length=512), "was edited"),
    (lambda m: m.pop("serving_sha256"), "has no serving_sha256"),
])
def test_a_manifest_that_points_outside_or_was_edited_is_refused_in_one_line(copy, change, words, capsys):
    shutil.copy(copy / "model.onnx", copy.parent / "model.onnx")  # a file outside the folder, to point at
    edit(copy, change)
    with pytest.raises(ArtifactError, match=words):
        Predictor(copy)
    assert runtime_main(["predict", str(copy), "the movie was great"]) == 2
    error = capsys.readouterr().err
    assert words.split()[0] in error and len(error.strip().splitlines()) == 1


def test_an_unhashed_file_is_named(copy):
    edit(copy, lambda m: m["hashes"].pop("tokenizer.json"))
    with pytest.raises(ArtifactError, match="tokenizer.json in .* has no hash in kdedge.json"):
        Predictor(copy)


def test_the_bytes_checked_are_the_bytes_loaded(copy, monkeypatch):
    import onnxruntime

    given = []
    real = onnxruntime.InferenceSession

    def recording(source, *args, **kwargs):
        given.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", recording)
    Predictor(copy)
    assert len(given) == 1 and isinstance(given[0], bytes)  # no path: onnxruntime never opens the file again
    assert given[0] == (copy / "model.onnx").read_bytes()


def test_a_benchmark_refuses_an_unhashed_variant(artifact, tmp_path):
    from kdedge_runtime.bench.timing import BenchConfig, run_artifacts

    folder = shutil.copytree(artifact, tmp_path / "a")
    (folder / "variants").mkdir(exist_ok=True)
    shutil.copy(folder / "model.onnx", folder / "variants" / "model.sneaky.onnx")  # not in kdedge.json's hashes
    config = BenchConfig(batch_sizes=(1,), seq_lens=(8,), threads=(1,), min_repeats=1, min_seconds=0.01,
                         max_seconds=0.05, warmup_seconds=0.0)
    with pytest.raises(ArtifactError, match="variants/model.sneaky.onnx in .* has no hash"):
        run_artifacts([folder], config, {"cpu": "x", "cores": 1})


def test_serving_under_another_onnxruntime_warns(copy, caplog):
    edit(copy, lambda m: m["machine"].update(onnxruntime="0.0.1"))  # not a serving field: still sealed
    with caplog.at_level(logging.WARNING, logger="kdedge_runtime.predictor"):
        Predictor(copy)
    assert "gated under onnxruntime 0.0.1" in caplog.text
