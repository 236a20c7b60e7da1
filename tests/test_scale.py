"""Distillation under accelerate: work sharing, mixed precision, and two processes on the CPU."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from conftest import tiny_recipe

from kdedge.distill.scale import Scale, cpu_has_bf16, resolve_mixed_precision
from kdedge.errors import ConfigError


def fake_scale(processes: int, index: int) -> Scale:
    return Scale(SimpleNamespace(num_processes=processes, process_index=index))


def test_every_process_gets_as_many_batches_and_together_all():
    batches = list(range(7))
    shares = [fake_scale(3, i).share(batches) for i in range(3)]
    assert [len(share) for share in shares] == [3, 3, 3]
    assert set().union(*shares) == set(batches)
    assert shares[0] == [0, 3, 6] and shares[1] == [1, 4, 0]  # the short share wraps around
    assert fake_scale(1, 0).share(batches) == batches


def test_auto_mixed_precision_is_full_precision_on_a_cpu():
    assert resolve_mixed_precision("auto", torch.device("cpu")) == "no"


def test_forced_bf16_on_a_cpu_depends_on_the_cpu(monkeypatch):
    monkeypatch.setattr("kdedge.distill.scale.cpu_has_bf16", lambda: True)
    assert resolve_mixed_precision("bf16", torch.device("cpu")) == "bf16"
    monkeypatch.setattr("kdedge.distill.scale.cpu_has_bf16", lambda: False)
    with pytest.raises(ConfigError, match="bf16 support") as error:
        resolve_mixed_precision("bf16", torch.device("cpu"))
    assert "mixed_precision=no" in error.value.hint
    assert resolve_mixed_precision("no", torch.device("cpu")) == "no"


def run_kdedge(args: list[str], launcher: list[str] | None = None, **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    command = (launcher or [sys.executable]) + ["-m", "kdedge", *args]
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)


@pytest.fixture
def recipe_file(tiny_teacher_dir, tiny_csv, tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    recipe = tiny_recipe(tiny_teacher_dir, tiny_csv, distill={"epochs": 2}, export={"variants": ["int8-dynamic"]})
    path.write_text(yaml.safe_dump(recipe.to_dict()))
    return path


def test_bf16_autocast_on_the_cpu(recipe_file, tmp_path):
    done = run_kdedge(["compress", "--recipe", str(recipe_file), "-o", str(tmp_path / "artifact"), "--run-dir",
                       str(tmp_path / "run"), "--set", "distill.mixed_precision=bf16"])
    if not cpu_has_bf16():  # refused up front, in one line, with nothing written
        assert done.returncode == 2, done.stderr[-2000:]
        assert "needs a CPU with bf16 support" in done.stderr and "Traceback" not in done.stderr
        assert not (tmp_path / "artifact").exists()
        return
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((tmp_path / "artifact" / "kdedge.json").read_text())
    assert manifest["training"]["hardware"] == "1 process on cpu, mixed precision bf16"
    assert manifest["metrics"]["student_onnx"]["accuracy"] > 0.8


def test_two_processes_under_torchrun_write_one_artifact(recipe_file, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    done = run_kdedge(["compress", "--recipe", str(recipe_file), "-o", str(tmp_path / "artifact"), "--run-dir",
                       str(tmp_path / "run"), "--set", "distill.epochs=4"],
                      launcher=[str(torchrun), "--nproc_per_node", "2"],
                      ACCELERATE_USE_CPU="1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (done.stdout + done.stderr).count("artifact written") == 1  # the main process reports, the other is quiet
    manifest = json.loads((tmp_path / "artifact" / "kdedge.json").read_text())
    assert manifest["training"]["hardware"] == "2 processes on cpu, mixed precision no"
    assert manifest["metrics"]["student_onnx"]["accuracy"] > 0.8
    history = manifest["training"]["history"][0]
    # each process took half of every epoch's batches: up to 4 epochs of ceil(ceil(transfer/32)/2) steps
    transfer = manifest["data"]["transfer"]
    steps_per_epoch = -(-(-(-transfer // 32)) // 2)
    assert history["history"][0]["step"] == steps_per_epoch // 2  # two dev evaluations per epoch
    assert history["steps"] <= 4 * steps_per_epoch
