"""Kept stages of a run: when a stage's output in the run directory is still valid, and how a
distillation stage's student is saved there and read back.

A stage's folder holds a `stage.json` with the key of everything it was made from; a later run that
computes the same key reuses the folder, and any changed input changes the key. Distillation stage
keys are chained, so a changed stage invalidates itself and every stage after it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from kdedge.distill.config import DistillConfig
from kdedge.errors import ConfigError
from kdedge.ownership import STAGE_STAMP, remove_stage

TOKENIZER_FILE = "tokenizer.json"  # the student's tokenizer, beside its weights


def run_key(*parts) -> str:
    """A short digest of JSON-serialisable `parts` (order matters, dict order does not)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def stage_key(stage_dir: Path) -> str | None:
    """The key a kept stage was made with, or None when there is no finished stage there."""
    stamp = stage_dir / STAGE_STAMP
    return json.loads(stamp.read_text()).get("key") if stamp.is_file() else None


def write_stage_key(stage_dir: Path, key: str) -> None:
    (stage_dir / STAGE_STAMP).write_text(json.dumps({"key": key}))


def stage_plan(distill: DistillConfig, root: Path, base_key: str) -> tuple[list[Path], list[str]]:
    """Each distillation stage's folder under `root` and its key, chained from `base_key` (everything
    the student depends on) through the stages up to it."""
    keys, key = [], base_key
    for stage in [dataclasses.asdict(stage) for stage in distill.stages] or [{"name": "distill"}]:
        key = run_key(key, stage)
        keys.append(key)
    return [root / f"{n + 1}-{stage.name}" for n, stage in enumerate(distill.resolved_stages)], keys


def resume_point(distill: DistillConfig, folders: list[Path], keys: list[str], from_stage: str | None) -> int:
    """The last stage whose kept folder is still valid (-1: none), or the one before `from_stage`."""
    names = [stage.name for stage in distill.resolved_stages]
    if from_stage is not None and from_stage not in names:
        raise ConfigError(f"no distillation stage named {from_stage!r}", hint=f"this recipe's stages: {', '.join(names)}")
    done = max((n for n, folder in enumerate(folders) if stage_key(folder) == keys[n]), default=-1)
    return done if from_stage is None else min(done, names.index(from_stage) - 1)


@dataclass
class KeptStudent:
    """A distillation stage's student as kept: its (single-task) config, weights and tokenizer."""

    config: dict
    state: dict
    tokenizer: Tokenizer
    pad_token_id: int
    shape: str
    teacher_ids: np.ndarray | None


def save_stage(folder: Path, key: str, kept: KeptStudent, outcome) -> None:
    """Write the student after a stage, and its result (`distill.StageResult`), atomically."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    torch.save(kept.state, partial / "student.pt")
    kept.tokenizer.save(str(partial / TOKENIZER_FILE))
    if kept.teacher_ids is not None:
        np.save(partial / "teacher_ids.npy", kept.teacher_ids)
    (partial / STAGE_STAMP).write_text(json.dumps(
        {"key": key, "config": kept.config, "pad_token_id": kept.pad_token_id, "shape": kept.shape,
         "has_teacher_ids": kept.teacher_ids is not None, "result": stage_summary(outcome)}, indent=2))
    remove_stage(folder)
    os.replace(partial, folder)


def load_stage(folder: Path) -> KeptStudent:
    """A kept stage, on the CPU whatever device it was trained on (a GPU run resumes on a CPU)."""
    saved = json.loads((folder / STAGE_STAMP).read_text())
    return KeptStudent(saved["config"], torch.load(folder / "student.pt", weights_only=True, map_location="cpu"),
                       Tokenizer.from_file(str(folder / TOKENIZER_FILE)), saved["pad_token_id"], saved["shape"],
                       np.load(folder / "teacher_ids.npy") if saved["has_teacher_ids"] else None)


def stage_results(folders: list[Path]) -> list[dict]:
    """Every stage's kept result, in order (the training history of the artifact)."""
    return [json.loads((folder / STAGE_STAMP).read_text())["result"] for folder in folders]


def stage_summary(outcome) -> dict:
    """A distillation stage's result (`distill.StageResult`) as kept in its `stage.json`."""
    return {"stage": outcome.name, "best_dev_score": outcome.best_dev_score, "best_step": outcome.best_step,
            "steps": outcome.steps, "monitor": outcome.monitor, "history": outcome.history}
