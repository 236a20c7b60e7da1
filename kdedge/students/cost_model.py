"""The committed cost model: how long a student shape takes per batch, estimated without timing anything.

A default shape must not depend on the machine that builds it (the same recipe gives the same student on
a laptop and on a CI runner), so without `student.latency` the solver ranks shapes by this model rather
than by a calibration on the machine at hand (`kdedge.export.shape_latency`, which `--latency` keeps
using). Each CPU kind gets its own fit, made by `benchmarks/cost_model.py` from onnxruntime timings of
probe shapes at the reference cell (batch 32 x 128 tokens, 2 threads, fp32, as `compress` exports) and
checked against other shapes the fit never saw; the fits are committed in `cost_model.json` with their
errors, and an estimate is the geometric mean over the CPUs recorded.

Features, per batch at the reference cell (the time of a small student is its arithmetic plus the memory
traffic of its weights and per-step state):
- BiLSTM: 1, h (per-time-step state and gate traffic), h(e + h) (the recurrent gates' multiply-adds
  per token; the embedding lookup costs nothing);
- Transformer: 1, layers, layers x width x (4 width + 2 FFN) (the dense multiply-adds per token),
  layers x width x length (attention).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COST_MODEL_FILE = Path(__file__).with_name("cost_model.json")
REFERENCE = {"batch_size": 32, "seq_len": 128, "threads": 2}


def cost_features(kind: str, shape: dict, seq_len: int) -> np.ndarray:
    """A shape's cost features (see the module docstring): what the fitted coefficients multiply."""
    if kind == "bilstm":
        e, h = shape["embedding_dim"], shape["hidden_size"]
        return np.array([1.0, h, h * (e + h) / 1e3])
    n, w, f = shape["layers"], shape["hidden_size"], shape["intermediate_size"]
    return np.array([1.0, n, n * w * (4 * w + 2 * f) / 1e6, n * w * seq_len / 1e3])


@dataclass(frozen=True)
class CpuFit:
    """One CPU kind's fit: milliseconds per batch = features @ coefficients."""

    cpu: str
    coefficients: tuple[float, ...]
    median_error: float  # relative, on shapes the fit never saw
    max_error: float
    probes: int
    checked: int  # held-out shapes the errors come from


class CostModel:
    """Estimated milliseconds per batch of 32 x 128 tokens on 2 threads for shapes of one student kind."""

    batch_size, seq_len = REFERENCE["batch_size"], REFERENCE["seq_len"]

    def __init__(self, kind: str, fits: list[CpuFit]):
        if not fits:
            raise ValueError(f"the cost model has no fit for {kind} students: run benchmarks/cost_model.py")
        self.kind, self.fits = kind, fits

    @classmethod
    def committed(cls, kind: str, path: Path = COST_MODEL_FILE) -> CostModel:
        table = json.loads(path.read_text(encoding="utf-8"))
        return cls(kind, [CpuFit(entry["cpu"], tuple(entry["coefficients"]), entry["median_error"],
                                 entry["max_error"], entry["probes"], entry["checked"])
                          for entry in table["fits"] if entry["kind"] == kind])

    def __call__(self, **shape) -> float:
        features = cost_features(self.kind, shape, self.seq_len)
        estimates = [max(float(features @ np.asarray(fit.coefficients)), 1e-3) for fit in self.fits]
        return float(np.exp(np.mean(np.log(estimates))))

    def describe(self) -> str:
        """Which CPUs the estimate rests on and how far off it was on shapes it never saw."""
        return "; ".join(f"{fit.cpu}: median error {fit.median_error:.0%}, worst {fit.max_error:.0%} over "
                         f"{fit.checked} held-out shapes" for fit in self.fits)
