"""How fast a student of a given shape runs on this machine: a cost model calibrated by measurement.

Latency depends on a model's shape, not its weights. For a batch size, sequence length and thread
count, a few probe shapes of a kind are built with random weights, exported to ONNX exactly as
`compress` exports students (fp32, the variant every artifact can ship), and timed with onnxruntime;
a least-squares fit of their medians (relative error, coefficients ≥ 0) on the shape's compute features
then estimates any other shape of that kind in microseconds; the solver confirms its pick by timing
it (`measure`). Features: those of the committed cost model (`kdedge.students.cost_model`), which is
this same fit made once per CPU kind and shipped, for default shapes that need no timing.
Calibrations are cached per machine fingerprint (CPU, cores, ISA, onnxruntime), kind, batch, length
and threads in `KDEDGE_CACHE_DIR` (default `~/.cache/kdedge`), so each machine measures once.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from kdedge.export.latency import median_ms
from kdedge.export.onnx import export_onnx, fuse_transformer
from kdedge.students.cost_model import cost_features

BILSTM_PROBES = ((32, 32), (64, 96), (128, 192), (300, 416), (300, 768), (128, 48))  # (embedding, hidden)
TRANSFORMER_PROBES = ((1, 64, 256), (2, 128, 512), (4, 192, 384), (6, 256, 1024), (12, 192, 192), (3, 384, 1536))
HEAD_DIM = 32
COST_MODEL = 2  # part of the cache key: a new fit or new probes calibrate again


def cache_dir() -> Path:
    return Path(os.environ.get("KDEDGE_CACHE_DIR") or Path.home() / ".cache" / "kdedge")


def machine_key() -> str:
    import onnxruntime

    from kdedge.hardware import cpu_description

    cpu, isa = cpu_description()
    return f"{cpu}|{os.cpu_count()}|{','.join(isa)}|onnxruntime {onnxruntime.__version__}"


class ShapeLatency:
    """Estimated fp32 ONNX latency (ms) of student shapes of one `kind` at `batch_size` x `seq_len` on
    `threads` threads. Calibrated on first use (a few seconds), then read from the cache."""

    def __init__(self, kind: str, batch_size: int, seq_len: int, threads: int | None = None,
                 folder: Path | None = None, machine: str | None = None):
        self.kind, self.batch_size, self.seq_len = kind, batch_size, seq_len
        self.threads = threads or os.cpu_count() or 1
        self.path = (folder or cache_dir()) / "shape-latency.json"
        self.key = f"{machine or machine_key()}|{kind}|b{batch_size}|s{seq_len}|t{self.threads}|v{COST_MODEL}"
        self._coefficients: np.ndarray | None = None
        self.probes: list[tuple[dict, float]] = []

    def __call__(self, **shape) -> float:
        if self._coefficients is None:
            self._coefficients = self._calibration()
        return float(max(0.0, cost_features(self.kind, shape, self.seq_len) @ self._coefficients))

    def _calibration(self) -> np.ndarray:
        stored = _read(self.path).get(self.key)
        if stored is not None:
            self.probes = [(probe["shape"], probe["ms"]) for probe in stored["probes"]]
            return np.asarray(stored["coefficients"], dtype=np.float64)
        shapes = ([{"embedding_dim": e, "hidden_size": h} for e, h in BILSTM_PROBES] if self.kind == "bilstm" else
                  [{"layers": n, "hidden_size": w, "intermediate_size": f} for n, w, f in TRANSFORMER_PROBES])
        self.probes = [(shape, self.measure(**shape)) for shape in shapes]
        features = np.stack([cost_features(self.kind, shape, self.seq_len) for shape, _ in self.probes])
        measured = np.array([ms for _, ms in self.probes])
        # relative error: a 2 ms shape matters as much as a 200 ms one when budgets are a few ms
        coefficients = _nonnegative_fit(features / measured[:, None], np.ones(len(measured)))
        table = _read(self.path)
        table[self.key] = {"coefficients": coefficients.tolist(),
                           "probes": [{"shape": shape, "ms": ms} for shape, ms in self.probes]}
        _write(self.path, table)
        return coefficients

    def measure(self, **shape) -> float:
        """Median latency of one shape, measured: random weights, exported to ONNX fp32, onnxruntime."""
        import onnxruntime as ort

        model = _random_student(self.kind, shape, self.seq_len)
        ids = torch.randint(1, 1000, (self.batch_size, self.seq_len))
        with tempfile.TemporaryDirectory() as scratch:
            path = export_onnx(model, Path(scratch) / "probe.onnx", 17, (ids[:2, :8], torch.ones_like(ids[:2, :8])))
            if self.kind == "transformer":  # as compress ships it: attention, LayerNorm and GELU fused
                fuse_transformer(path, model.config.num_heads, model.config.hidden_size)
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = self.threads, 1
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            feed = {"input_ids": ids.numpy(), "attention_mask": np.ones(ids.shape, dtype=np.int64)}
            names = [item.name for item in session.get_inputs()]
            if "token_type_ids" in names:
                feed["token_type_ids"] = np.zeros(ids.shape, dtype=np.int64)
            return median_ms(lambda: session.run(None, {name: feed[name] for name in names}), repeats=7, warmup=2)


def _random_student(kind: str, shape: dict, seq_len: int) -> torch.nn.Module:
    """Random weights; a vocabulary of 1,024 rows (a lookup: its size does not change the time)."""
    torch.manual_seed(0)
    if kind == "bilstm":
        from kdedge.students.bilstm import BiLSTMClassifier, BiLSTMConfig

        return BiLSTMClassifier(BiLSTMConfig(1024, shape["embedding_dim"], shape["hidden_size"], 3, 1024, 0.0)).eval()
    from transformers import BertConfig

    from kdedge.students.transformer import TransformerClassifier, TransformerConfig

    width = shape["hidden_size"]
    config = TransformerConfig(1024, width, shape["layers"], max(1, width // HEAD_DIM), shape["intermediate_size"], 3,
                               max(seq_len, 128), base_config=BertConfig().to_dict())
    return TransformerClassifier(config).eval()


def _nonnegative_fit(features: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Least squares with every coefficient ≥ 0 (costs do not shrink as shapes grow): active-set refits."""
    active = np.ones(features.shape[1], dtype=bool)
    while True:
        coefficients = np.zeros(features.shape[1])
        coefficients[active] = np.linalg.lstsq(features[:, active], targets, rcond=None)[0]
        negative = active & (coefficients < 0)
        if not negative.any():
            return coefficients
        active &= ~negative


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write(path: Path, table: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(table, indent=1))
    os.replace(partial, path)
