"""Export's configuration (the recipe's `export` section): variants and their gates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ExportConfig:
    """ONNX export, the variants to build, and the gates every exported model must pass.

    The fp32 export must match PyTorch within `atol`. `variants` (any of int8-dynamic, int8-static,
    fp16) are built besides it; each must agree with fp32's predicted labels on `min_agreement` of the
    dev rows or it is not shipped. The artifact ships the fastest variant on this CPU whose dev
    accuracy is at most `max_accuracy_drop` (0.01 = 1 point) below fp32's. Static INT8 calibrates on
    `calibration_size` transfer texts. `keep_variants` also ships every other variant that passed its
    gate as `variants/model.<variant>.onnx` (for `kdedge bench`, or an FP16 model for a GPU).
    `batch_invariant` ships only a variant that gives each dev text the same label, and probabilities
    within `batch_tolerance`, alone as in any batch (dynamic INT8 does not: its activation scales are
    computed over the whole batch); false lets the fastest variant ship regardless.
    `per_channel` gives int8-dynamic one weight scale per output channel instead of one per matrix;
    unset, it is on for Transformer students (their reconstructed or extracted matrices have outlier
    channels that a single scale crushes) and off for BiLSTMs.
    """

    opset: int = 17  # ONNX opset of the export
    # variants built besides fp32, each gated and timed; the fastest that passes ships
    variants: tuple[Literal["fp32", "int8-dynamic", "int8-static", "fp16"], ...] = ("int8-dynamic", "int8-static")
    # a variant ships only if its dev accuracy is at most this below fp32's (0.01 = 1 point)
    max_accuracy_drop: float = 0.01
    calibration_size: int = 256  # transfer texts that calibrate static INT8
    keep_variants: bool = False  # also ship every other variant that passed, under `variants/`
    atol: float = 1e-4  # largest logit difference allowed between PyTorch and the fp32 ONNX export
    min_agreement: float = 0.99  # a variant must predict fp32's label on this share of dev rows
    # int8-dynamic with one weight scale per output channel (default: on for Transformers)
    per_channel: bool | None = None
    batch_invariant: bool = True  # ship only a variant whose results do not depend on the other texts in the batch
    batch_tolerance: float = 1e-4  # largest probability change across batchings that counts as invariant
    # warn (and fail with --strict) when the shipped student keeps less than this share of the teacher's test metric
    quality_bar: float = 0.95

    def resolved_per_channel(self, student_kind: str) -> bool:
        return self.per_channel if self.per_channel is not None else student_kind == "transformer"
