import json
import os

import pytest

from kdedge.export.artifact import seal, staged_artifact
from kdedge_runtime.manifest import SCHEMA_VERSION, ArtifactError, read_manifest


def fill(folder):
    (folder / "model.onnx").write_bytes(b"model")
    (folder / "tokenizer.json").write_text("{}")
    return seal(folder, {"task": "sequence-classification", "labels": ["a", "b"], "max_length": 8, "pad_token_id": 0})


def test_artifact_appears_only_when_complete(tmp_path):
    destination = tmp_path / "out"
    with staged_artifact(destination) as staging:
        manifest = fill(staging)
        (staging / "scratch.onnx").write_bytes(b"x")
        assert not destination.exists()
    assert sorted(p.name for p in destination.iterdir()) == ["README.md", "kdedge.json", "model.onnx", "runtime",
                                                             "tokenizer.json"]
    assert manifest["hashes"]["model.onnx"]["bytes"] == 5
    wheel = manifest["runtime_wheel"]
    assert wheel.startswith("runtime/kdedge_runtime-") and manifest["hashes"][wheel]["bytes"] > 10_000
    assert read_manifest(destination).labels == ("a", "b")


def test_failure_leaves_nothing_behind_and_keeps_the_previous_artifact(tmp_path):
    destination = tmp_path / "out"
    with staged_artifact(destination) as staging:
        fill(staging)
    with pytest.raises(RuntimeError):
        with staged_artifact(destination) as staging:
            (staging / "model.onnx").write_bytes(b"half")
            raise RuntimeError("export failed")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (destination / "model.onnx").read_bytes() == b"model"


def test_runtime_refuses_unknown_schema_versions(tmp_path):
    with staged_artifact(tmp_path / "out") as staging:
        fill(staging)
    manifest = json.loads((tmp_path / "out" / "kdedge.json").read_text())
    manifest["schema"] = 99
    (tmp_path / "out" / "kdedge.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="schema version 99"):
        read_manifest(tmp_path / "out")


@pytest.mark.parametrize("extra, version", [({}, 1), ({"casing_stride": 30522}, 2)])
def test_an_artifact_asks_for_the_oldest_schema_that_serves_it(tmp_path, extra, version):
    """A runtime of schema 1 ignores casing_stride and would feed a casing model plain ids: such an
    artifact is schema 2, which that runtime refuses; a plain one stays readable by it."""
    with staged_artifact(tmp_path / "out") as staging:
        fill(staging)
        seal(staging, {**json.loads((staging / "kdedge.json").read_text()), **extra})
    manifest = json.loads((tmp_path / "out" / "kdedge.json").read_text())
    assert manifest["schema"] == version
    assert read_manifest(tmp_path / "out").casing_stride == extra.get("casing_stride", 0)
    for wrong in (0, "2", SCHEMA_VERSION + 1):
        (tmp_path / "out" / "kdedge.json").write_text(json.dumps({**manifest, "schema": wrong}))
        with pytest.raises(ArtifactError, match=f"reads versions 1 to {SCHEMA_VERSION}"):
            read_manifest(tmp_path / "out")


def test_a_killed_run_s_staging_folder_is_removed_by_the_next(tmp_path):
    import subprocess
    import sys

    destination = tmp_path / "out"
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(finished.stdout)  # a process that has exited, as a SIGKILLed run has
    (tmp_path / f".out.partial-{dead}").mkdir()
    (tmp_path / f".out.previous-{dead}").mkdir()
    alive = tmp_path / f".out.partial-{os.getpid()}-other"  # not a staging name: left alone
    alive.mkdir()
    running = tmp_path / f".out.partial-{os.getppid()}"  # a live process's staging: left alone
    running.mkdir()
    with staged_artifact(destination) as staging:
        fill(staging)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", alive.name, running.name])


def test_the_runtime_wheel_is_the_installed_runtime_with_pinned_dependencies(tmp_path):
    import importlib.metadata
    import zipfile

    import kdedge_runtime
    from kdedge.export.runtime_wheel import write_runtime_wheel

    first, second = tmp_path / "a", tmp_path / "b"
    paths = [write_runtime_wheel(folder) for folder in (first, second)]
    assert (first / paths[0]).read_bytes() == (second / paths[1]).read_bytes()  # deterministic
    with zipfile.ZipFile(first / paths[0]) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(f"kdedge_runtime-{kdedge_runtime.__version__}.dist-info/METADATA").decode()
        assert wheel.read("kdedge_runtime/predictor.py") == (
            __import__("pathlib").Path(kdedge_runtime.__file__).parent / "predictor.py").read_bytes()
    assert "kdedge_runtime/py.typed" in names and "kdedge_runtime/bench/schema.json" in names
    assert not any("__pycache__" in name for name in names)
    for name in ("onnxruntime", "numpy", "tokenizers"):
        assert f"Requires-Dist: {name}=={importlib.metadata.version(name)}" in metadata
