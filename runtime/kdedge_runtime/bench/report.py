"""Benchmark results as Markdown and JSON: the same for `kdedge-runtime bench` and `kdedge bench`."""

from __future__ import annotations

COLUMNS = ("model", "variant", "batch", "seq", "threads", "p50 ms", "p99 ms", "seq/s", "vs teacher torch fp32",
           "vs teacher ONNX INT8", "vs teacher artifact")


def ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}x"


def cells(row) -> list[str]:
    return [row.model, row.variant, str(row.batch_size), str(row.seq_len), str(row.threads), f"{row.p50_ms:.2f}",
            f"{row.p99_ms:.2f}", f"{row.throughput:,.0f}", ratio(row.speedup_vs_teacher_torch_fp32),
            ratio(row.speedup_vs_teacher_onnx_int8), ratio(row.speedup_vs_teacher_artifact)]


def columns_in_use(rows) -> list[int]:
    """The columns to show: every column, less the teacher ratios no row has."""
    keep = list(range(8))
    for index, field in zip(range(8, 11), ("speedup_vs_teacher_torch_fp32", "speedup_vs_teacher_onnx_int8",
                                          "speedup_vs_teacher_artifact"), strict=True):
        if any(getattr(row, field) is not None for row in rows):
            keep.append(index)
    return keep


def machine_summary(machine: dict) -> str:
    line = (f"machine: {machine['cpu']}, {machine['cores']} cores, ISA {', '.join(machine['isa']) or 'n/a'}, "
            f"onnxruntime {machine['onnxruntime']}")
    if machine.get("torch"):
        line += f", torch {machine['torch']}"
    if machine.get("matmul_peak_gflops"):
        line += "; fp32 matmul peak " + ", ".join(f"{v} GFLOP/s at {k} threads"
                                                  for k, v in machine["matmul_peak_gflops"].items())
    return line


def markdown(result, command: str | None = None) -> str:
    lines = [f"command: `{command}`"] if command else []
    lines.append(machine_summary(result.machine))
    for row in result.results:
        if row.gflops is not None and row.gflops_vs_matmul_peak is not None:
            lines.append(f"teacher PyTorch fp32 at batch {row.batch_size} x {row.seq_len}, {row.threads} threads: "
                         f"{row.gflops:.0f} GFLOP/s = {row.gflops_vs_matmul_peak:.0%} of the measured matmul peak")
    lines += [f"note: {note}" for note in result.notes]
    if result.results:
        keep = columns_in_use(result.results)
        lines += ["", "| " + " | ".join(COLUMNS[i] for i in keep) + " |",
                  "|" + "---|" * 2 + "---:|" * (len(keep) - 2)]
        lines += ["| " + " | ".join(cells(row)[i] for i in keep) + " |" for row in result.results]
    if result.scenarios:
        from kdedge_runtime.bench.scenarios import scenarios_markdown

        lines += ["", *scenarios_markdown(result.scenarios)]
    return "\n".join(lines) + "\n"
