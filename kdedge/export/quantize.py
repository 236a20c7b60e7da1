"""Quantized and half-precision variants of an exported ONNX model, built with onnxruntime's tools.

Each builder reads the fp32 `source` and writes `target`:
- `int8-dynamic`: int8 weights, activations quantized per batch at run time (the CPU default);
- `int8-static`: int8 weights (per channel) and activations with ranges calibrated once on sample
  inputs, in QDQ format;
- `fp16`: weights and activations in half precision, inputs and outputs kept as they were (for GPUs).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

Calibration = list[dict[str, np.ndarray]]  # model inputs, one dict per batch


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime.quantization logs advice through the root logger
    try:
        yield
    finally:
        root.setLevel(level)


def _pre_processed(source: Path, scratch: str) -> str:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = Path(scratch) / "prepared.onnx"
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    return str(prepared)


def quantize_dynamic_int8(source: Path, target: Path, calibration: Calibration | None = None,
                          per_channel: bool = False) -> Path:
    """Dynamic INT8: weights stored as int8 (one scale per matrix, or per output channel), activations
    quantized per batch at run time (CPU default)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as scratch, _quiet_quantizer():
        # fused com.microsoft ops (Attention, SkipLayerNormalization) defeat ONNX shape inference;
        # their outputs are float, which is what DefaultTensorType tells the quantizer
        quantize_dynamic(_pre_processed(source, scratch), str(target), weight_type=QuantType.QInt8,
                         per_channel=per_channel, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return target


def quantize_static_int8(source: Path, target: Path, calibration: Calibration | None = None) -> Path:
    """Static INT8 (QDQ): activation ranges calibrated on `calibration` batches, weights per channel."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    if not calibration:
        raise ValueError("static INT8 needs calibration batches")

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._batches = iter(calibration)

        def get_next(self):
            return next(self._batches, None)

    # in a graph fused by onnxruntime's transformer optimizer, shape inference cannot type the outputs
    # of the com.microsoft ops, so only the MatMuls (nearly all of the compute) get calibrated ranges
    fused = any(node.domain == "com.microsoft" for node in onnx.load(str(source), load_external_data=False).graph.node)
    with tempfile.TemporaryDirectory() as scratch, _quiet_quantizer():
        quantize_static(_pre_processed(source, scratch), str(target), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["MatMul"] if fused else None,
                        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return target


def convert_fp16(source: Path, target: Path, calibration: Calibration | None = None) -> Path:
    """FP16 weights and compute; the inputs and the logits keep their types, so callers see no change."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    onnx.save(model, str(target))
    return target


VARIANT_BUILDERS: dict[str, Callable[[Path, Path, Calibration | None], Path]] = {
    "int8-dynamic": quantize_dynamic_int8,
    "int8-static": quantize_static_int8,
    "fp16": convert_fp16,
}
