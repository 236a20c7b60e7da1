"""Kept distillation stages: saved atomically and read back on the CPU, whatever device trained them."""

import json

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models

from kdedge.distill.kept_stages import KeptStudent, load_stage, save_stage
from kdedge.distill.loop import StageResult


def kept(state: dict) -> KeptStudent:
    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    return KeptStudent({"hidden_size": 4}, state, tokenizer, 0, "4 wide", np.arange(3))


def outcome() -> StageResult:
    return StageResult("distill", 0.75, 10, 12, "dev_score", [{"step": 10, "dev_score": 0.75}])


def test_a_stage_round_trips(tmp_path):
    folder = tmp_path / "1-distill"
    save_stage(folder, "key-1", kept({"weight": torch.ones(2, 2)}), outcome())
    loaded = load_stage(folder)
    assert loaded.config == {"hidden_size": 4} and loaded.shape == "4 wide" and loaded.pad_token_id == 0
    assert torch.equal(loaded.state["weight"], torch.ones(2, 2)) and loaded.state["weight"].device.type == "cpu"
    assert loaded.teacher_ids.tolist() == [0, 1, 2] and loaded.tokenizer.token_to_id("a") == 1
    saved = json.loads((folder / "stage.json").read_text())
    assert saved["key"] == "key-1" and saved["result"]["best_dev_score"] == 0.75
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_stage_trained_on_a_gpu_loads_on_the_cpu(tmp_path):
    import os
    import subprocess
    import sys

    folder = tmp_path / "1-distill"
    save_stage(folder, "key-1", kept({"weight": torch.ones(2, 2, device="cuda")}), outcome())
    # a process that sees no GPU, as a run resumed on a CPU machine does
    code = ("import torch; from kdedge.distill.kept_stages import load_stage; "
            f"state = load_stage(__import__('pathlib').Path({str(folder)!r})).state; "
            "assert state['weight'].device.type == 'cpu' and state['weight'].sum() == 4")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
