"""The closing table a person reads after `kdedge compress`."""

from __future__ import annotations

from rich.table import Table


def _size(value: float | None) -> str:
    return "—" if value is None else f"{value / 1e6:.1f} MB"


def _metric(metrics: dict, name: str, key: str) -> str:
    return f"{metrics[name][key]:.4f}" if name in metrics else "—"


def compression_table(manifest: dict, seconds: float | None = None) -> Table:
    metrics, disk, latency = manifest["metrics"], manifest.get("disk_bytes", {}), manifest.get("latency_ms_batch32", {})
    quantized = manifest.get("variant") == "int8-dynamic"
    title = f"kdedge: {manifest['teacher']['name']} → {manifest['student']['kind']} student"
    if seconds is not None:
        title += f" ({seconds / 60:.1f} min)"
    table = Table(title=title)
    table.add_column("")
    table.add_column("teacher (PyTorch fp32)", justify="right")
    table.add_column("student fp32", justify="right")
    table.add_column("student INT8 (artifact)" if quantized else "student ONNX fp32 (artifact)", justify="right")
    teacher_params, student_params = manifest["teacher"]["params"], manifest["student"]["params"]
    deployed = "student_onnx_int8" if quantized else "student_onnx_fp32"
    table.add_row("parameters", f"{teacher_params:,}", f"{student_params:,}", f"{student_params:,}")
    table.add_row("compression", "1x", f"{manifest['compression']:.1f}x", f"{manifest['compression']:.1f}x")
    table.add_row("disk size", _size(disk.get("teacher_weights")), _size(disk.get("student_onnx_fp32")),
                  _size(disk.get(deployed)))
    for key, label in (("accuracy", "test accuracy"), ("macro_f1", "test macro-F1")):
        table.add_row(label, _metric(metrics, "teacher", key), _metric(metrics, "student", key),
                      _metric(metrics, deployed, key))
    if "student" in metrics and deployed in metrics:
        kept = metrics[deployed]["accuracy"] / metrics["teacher"]["accuracy"]
        table.add_row("accuracy kept", "100%", f"{metrics['student']['accuracy'] / metrics['teacher']['accuracy']:.1%}",
                      f"{kept:.1%}")
    if latency:
        shape = f"batch {latency['batch_size']} x {latency['seq_len']}"
        table.add_row(f"CPU latency ({shape})", f"{latency['teacher_torch_fp32']:.1f} ms", "",
                      f"{latency['student_onnx']:.2f} ms "
                      f"({latency['teacher_torch_fp32'] / latency['student_onnx']:.0f}x)")
    return table
