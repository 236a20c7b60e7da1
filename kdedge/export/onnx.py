"""Export a student to ONNX and check that the export computes what the student computes.

Export and validation are one step: callers get a path only for a model that passed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from kdedge.errors import ExportValidationError
from kdedge.progress import Reporter

INPUT_NAMES = ["input_ids", "attention_mask"]


class LogitsOnly(torch.nn.Module):
    """A Hugging Face model as `forward(input_ids, attention_mask) -> logits`, the artifact's interface."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def export_onnx(model: torch.nn.Module, path: Path, opset: int, sample: tuple[torch.Tensor, torch.Tensor],
                per_token: bool = False, outputs: dict[str, bool] | None = None) -> Path:
    """Write `model` to `path` with dynamic batch and sequence axes (TorchScript exporter: plain LSTM ops).

    `per_token`: the logits have a sequence axis too (token classification). `outputs`: for a model
    with several outputs (a multi-task student), each output's name → whether it is per token."""
    model.eval()
    outputs = outputs or {"logits": per_token}
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    for name, token in outputs.items():
        axes[name] = {0: "batch", 1: "sequence"} if token else {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, sample, str(path), input_names=INPUT_NAMES, output_names=list(outputs),
            dynamic_axes=axes, opset_version=opset, dynamo=False,
        )
    return path


def check_logit_parity(reference: np.ndarray, exported: np.ndarray, atol: float, what: str) -> float:
    """Largest absolute difference of `logits`; raises if it exceeds `atol`."""
    difference = np.abs(reference - exported)
    worst = float(difference.max()) if difference.size else 0.0
    if not np.isfinite(worst) or worst > atol:
        row = int(np.unravel_index(np.nanargmax(difference), difference.shape)[0])
        raise ExportValidationError(
            f"{what} disagrees with the PyTorch student: output 'logits' differs by up to {worst:.3g} "
            f"(tolerance {atol:g}; worst on test row {row})",
            hint="no artifact was written; raise export.atol only if you accept that difference",
        )
    return worst


FUSED_OPERATORS = ("EmbedLayerNormalization", "Attention", "SkipLayerNormalization", "BiasGelu", "Gelu", "FastGelu",
                   "LayerNormalization")


def fuse_transformer(path: Path, num_heads: int, hidden_size: int) -> dict[str, int]:
    """Fuse attention, LayerNorm and GELU subgraphs with onnxruntime's transformer optimizer, in place.

    Returns how many nodes of each fused kind the graph now has.
    """
    import logging

    from onnxruntime.transformers.optimizer import optimize_model

    logger = logging.getLogger("onnxruntime.transformers")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        optimized = optimize_model(str(path), model_type="bert", num_heads=num_heads, hidden_size=hidden_size,
                                   opt_level=0)
        optimized.save_model_to_file(str(path))
    finally:
        logger.setLevel(level)
    counts: dict[str, int] = {}
    for node in optimized.model.graph.node:
        if node.op_type in FUSED_OPERATORS:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def fuse_and_report(path: Path, num_heads: int, hidden_size: int, reporter: Reporter) -> dict[str, int]:
    """onnxruntime's transformer fusion, in place; says what it fused and warns when nothing was."""
    fusion = fuse_transformer(path, num_heads, hidden_size)
    reporter.note("fused: " + (", ".join(f"{n} {op}" for op, n in fusion.items() if n) or "nothing"))
    if not any(fusion.values()):
        reporter.note("[yellow]warning:[/] onnxruntime fused no attention or LayerNorm nodes")
    return fusion
