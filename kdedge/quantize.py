"""Quantize an exported ONNX model with onnxruntime."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path


def quantize_dynamic_int8(source: Path, target: Path) -> Path:
    """Dynamic INT8: weights stored as int8, activations quantized per batch at run time (CPU default)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # onnxruntime.quantization logs advice through the root logger
        try:
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            # fused com.microsoft ops (Attention, SkipLayerNormalization) defeat ONNX shape inference;
            # their outputs are float, which is what DefaultTensorType tells the quantizer
            quantize_dynamic(str(prepared), str(target), weight_type=QuantType.QInt8,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        finally:
            root.setLevel(level)
    return target
