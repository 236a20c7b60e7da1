"""Crash and resume: `kdedge compress` killed with SIGKILL at each boundary, then run again, ends with the
same metrics as a run that was never interrupted."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from conftest import tiny_recipe

# the step line each boundary prints just before its work starts (progress bars print at their end)
BOUNDARIES = [
    ("teacher fine-tuning", "fine-tuning its new head"),
    ("labelling the transfer set", "teacher outputs test"),
    ("a distillation stage", "distillation stage 1/1"),
    ("export", "exporting to ONNX"),
]
ENVIRONMENT = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture
def recipe_file(tiny_teacher_dir, tiny_csv, tmp_path):
    path = tmp_path / "tiny.yaml"
    recipe = tiny_recipe(tiny_teacher_dir, tiny_csv, distill={"epochs": 2}, export={"variants": ["int8-dynamic"]})
    path.write_text(yaml.safe_dump(recipe.to_dict()))
    return path


def command(recipe_file, root):
    return [sys.executable, "-m", "kdedge", "compress", "--recipe", str(recipe_file), "-o", str(root / "artifact"),
            "--run-dir", str(root / "run")]


def kill_at(arguments, marker: str, timeout: float = 300) -> None:
    """Run until the process prints `marker`, then SIGKILL it (no chance to clean up)."""
    process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=ENVIRONMENT)
    deadline = time.time() + timeout
    seen = []
    try:
        for line in process.stderr:
            seen.append(line)
            if marker in line:
                os.kill(process.pid, signal.SIGKILL)
                break
            assert time.time() < deadline, "timed out before the boundary"
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, f"never reached {marker!r}:\n{''.join(seen)[-2000:]}"


def run(arguments) -> None:
    done = subprocess.run(arguments, capture_output=True, text=True, env=ENVIRONMENT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def metrics(root) -> dict:
    manifest = json.loads((root / "artifact" / "kdedge.json").read_text())
    # which variant ships is decided by latency, a race between equally accurate variants of a tiny model;
    # what each variant scores and how it agrees with fp32 are results, and must not change
    return {"teacher": manifest["metrics"]["teacher"], "student": manifest["metrics"]["student"],
            "variants": {row["variant"]: (row["score"], row["agreement_with_fp32"]) for row in manifest["variants"]},
            "history": [(stage["steps"], stage["best_step"], stage["best_dev_score"])
                        for stage in manifest["training"]["history"]]}


def test_killed_at_every_boundary_then_rerun_gives_the_same_result(recipe_file, tmp_path):
    uninterrupted = tmp_path / "uninterrupted"
    run(command(recipe_file, uninterrupted))
    crashed = tmp_path / "crashed"
    for _, marker in BOUNDARIES:  # each rerun resumes past the boundaries before, then is killed at the next
        kill_at(command(recipe_file, crashed), marker)
        assert not (crashed / "artifact").exists()  # never a half-written artifact
    run(command(recipe_file, crashed))
    assert metrics(crashed) == metrics(uninterrupted)
    assert not list(crashed.glob(".artifact.partial-*")) and not list((crashed / "run").glob("*.partial"))
