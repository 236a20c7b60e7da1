"""Present benchmark results: a rich table, Markdown, and a throughput plot."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from kdedge_runtime.bench.report import COLUMNS, cells, columns_in_use, markdown
from kdedge_runtime.bench.timing import BenchResult


def bench_table(result: BenchResult) -> Table:
    machine = result.machine
    table = Table(title=f"kdedge bench · {machine['cpu']} · {machine['cores']} cores · "
                        f"onnxruntime {machine['onnxruntime']} · torch {machine.get('torch', 'n/a')}")
    keep = columns_in_use(result.results)
    for index in keep:
        table.add_column(COLUMNS[index], justify="left" if COLUMNS[index] in ("model", "variant") else "right")
    for row in result.results:
        found = cells(row)
        table.add_row(*(found[i] for i in keep))
    return table


def bench_markdown(result: BenchResult, command: str | None = None) -> str:
    """The runtime's Markdown (`kdedge_runtime.bench.report`): one format for both tools."""
    return markdown(result, command)


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
