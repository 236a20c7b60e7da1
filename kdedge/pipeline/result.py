"""What a `compress` run hands back (single- and multi-task alike)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CompressResult:
    artifact_dir: Path
    manifest: dict
    latency_ms: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

