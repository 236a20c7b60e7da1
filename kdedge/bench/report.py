"""Present benchmark results: a rich table, Markdown, and a throughput plot."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from kdedge.bench.runner import BenchResult

COLUMNS = ("model", "variant", "batch", "seq", "threads", "p50 ms", "p99 ms", "seq/s", "vs teacher torch fp32",
           "vs teacher ONNX INT8")


def _cells(row) -> list[str]:
    def ratio(value):
        return "—" if value is None else f"{value:.1f}x"

    return [row.model, row.variant, str(row.batch_size), str(row.seq_len), str(row.threads), f"{row.p50_ms:.2f}",
            f"{row.p99_ms:.2f}", f"{row.throughput:,.0f}", ratio(row.speedup_vs_teacher_torch_fp32),
            ratio(row.speedup_vs_teacher_onnx_int8)]


def bench_table(result: BenchResult) -> Table:
    machine = result.machine
    table = Table(title=f"kdedge bench · {machine['cpu']} · {machine['cores']} cores · "
                        f"onnxruntime {machine['onnxruntime']} · torch {machine['torch']}")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("model", "variant") else "right")
    for row in result.results:
        table.add_row(*_cells(row))
    return table


def bench_markdown(result: BenchResult, command: str | None = None) -> str:
    machine = result.machine
    lines = []
    if command:
        lines.append(f"command: `{command}`")
    lines.append(f"machine: {machine['cpu']}, {machine['cores']} cores, ISA {', '.join(machine['isa']) or 'n/a'}, "
                 f"onnxruntime {machine['onnxruntime']}, torch {machine['torch']}; fp32 matmul peak "
                 + ", ".join(f"{v} GFLOP/s at {k} threads" for k, v in machine["matmul_peak_gflops"].items()))
    for row in result.results:
        if row.gflops is not None:
            lines.append(f"teacher PyTorch fp32 at batch {row.batch_size} x {row.seq_len}, {row.threads} threads: "
                         f"{row.gflops:.0f} GFLOP/s = {row.gflops_vs_matmul_peak:.0%} of the measured matmul peak")
    lines += [f"note: {note}" for note in result.notes]
    lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * 2 + "---:|" * (len(COLUMNS) - 2)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in result.results]
    return "\n".join(lines) + "\n"


def bench_plot(result: BenchResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seq_lens = sorted({row.seq_len for row in result.results})
    threads = max(row.threads for row in result.results)
    figure, axes = plt.subplots(1, len(seq_lens), figsize=(6 * len(seq_lens), 4.2), squeeze=False)
    for axis, seq_len in zip(axes[0], seq_lens):
        for model, variant in dict.fromkeys((row.model, row.variant) for row in result.results):
            rows = sorted((r for r in result.results if (r.model, r.variant) == (model, variant)
                           and r.seq_len == seq_len and r.threads == threads), key=lambda r: r.batch_size)
            axis.plot([r.batch_size for r in rows], [r.throughput for r in rows], marker="o",
                      label=f"{model} {variant}")
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("batch size")
        axis.set_ylabel("throughput (sequences / s)")
        axis.set_title(f"sequence length {seq_len}, {threads} threads")
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=8)
    figure.suptitle(f"{result.machine['cpu']} ({result.machine['cores']} cores)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
