"""Stage 5, export: ONNX export with its parity gate and transformer fusion (`onnx`), the INT8 / FP16
conversions (`quantize`), building, gating and choosing the variants (`variants`), the quick latency
check (`latency`) and the self-describing artifact folder (`artifact`).

Its configuration is `config.ExportConfig`. Reads the data stage; never the student's training.
"""
