"""Keys that say whether a kept stage of a run (a fine-tuned teacher, a distillation stage) is still valid.

A stage's folder holds a `stage.json` with the key of everything it was made from; a later run that
computes the same key reuses the folder, and any changed input changes the key.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def run_key(*parts) -> str:
    """A short digest of JSON-serialisable `parts` (order matters, dict order does not)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def stage_key(stage_dir: Path) -> str | None:
    """The key a kept stage was made with, or None when there is no finished stage there."""
    stamp = stage_dir / "stage.json"
    return json.loads(stamp.read_text()).get("key") if stamp.is_file() else None


def write_stage_key(stage_dir: Path, key: str) -> None:
    (stage_dir / "stage.json").write_text(json.dumps({"key": key}))


def stage_summary(outcome) -> dict:
    """A distillation stage's result (`distill.StageResult`) as kept in its `stage.json`."""
    return {"stage": outcome.name, "best_dev_score": outcome.best_dev_score, "best_step": outcome.best_step,
            "steps": outcome.steps, "monitor": outcome.monitor, "history": outcome.history}
