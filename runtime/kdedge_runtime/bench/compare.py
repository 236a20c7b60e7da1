"""Runs from several machines in one view: `kdedge-runtime bench --compare a.json b.json ...` (and
`kdedge bench --compare`). Absolute figures are per machine; ratios stay within each run (a student
against the teacher timed in the same run on the same machine), so machines of different speed compare
fairly. Each machine is named by its fingerprint.
"""

from __future__ import annotations

import json
from pathlib import Path

from kdedge_runtime.bench.machine import machine_name
from kdedge_runtime.bench.timing import SCHEMA, BenchError

RATIOS = (("speedup_vs_teacher_artifact", "teacher artifact"), ("speedup_vs_teacher_onnx_int8", "teacher ONNX INT8"),
          ("speedup_vs_teacher_torch_fp32", "teacher torch fp32"))


def load_runs(paths: list[Path]) -> list[dict]:
    """The runs in `paths`, checked: one schema version, and each model file the same wherever it appears."""
    runs = []
    for path in paths:
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise BenchError(f"{path} cannot be read as a bench result ({error})") from None
        if not isinstance(document, dict) or document.get("schema") != SCHEMA:
            found = document.get("schema") if isinstance(document, dict) else None
            raise BenchError(f"{path} has schema {found!r}, not {SCHEMA!r}: re-run the benchmark with this version")
        runs.append({"path": str(path), **document})
    seen: dict[tuple, tuple[str, str]] = {}
    for run in runs:
        for row in run["results"]:
            key, digest = (row["model"], row["variant"]), row.get("model_sha256")
            if digest is None:
                continue
            first = seen.setdefault(key, (digest, run["path"]))
            if first[0] != digest:
                raise BenchError(f"{row['model']} {row['variant']} is a different model file in {first[1]} and "
                                 f"{run['path']} (SHA-256 {first[0][:12]} vs {digest[:12]}): compare runs of the "
                                 "same artifact")
    return runs


def machine_labels(runs: list[dict]) -> list[str]:
    labels, counts = [], {}
    for run in runs:
        name = machine_name(run["machine"])
        counts[name] = counts.get(name, 0) + 1
        labels.append(name if counts[name] == 1 else f"{name} (#{counts[name]})")
    return labels


def compare_markdown(runs: list[dict]) -> str:
    labels = machine_labels(runs)
    lines = ["machines:"] + [f"- M{i + 1}: {label} ({run['path']})" for i, (label, run) in
                             enumerate(zip(labels, runs, strict=True))]
    keys = list(dict.fromkeys((r["model"], r["variant"], r["batch_size"], r["seq_len"], r["threads"])
                              for run in runs for r in run["results"]))
    if keys:
        header = ["model", "variant", "batch", "seq", "threads"]
        for i in range(len(runs)):
            header += [f"M{i + 1} p50 ms", f"M{i + 1} vs teacher"]
        lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
        for key in keys:
            cells = [key[0], key[1], *map(str, key[2:])]
            for run in runs:
                row = next((r for r in run["results"]
                            if (r["model"], r["variant"], r["batch_size"], r["seq_len"], r["threads"]) == key), None)
                if row is None:
                    cells += ["—", "—"]
                    continue
                ratio = next(((row[field], name) for field, name in RATIOS if row.get(field) is not None), None)
                cells += [f"{row['p50_ms']:.2f}", f"{ratio[0]:.1f}x {ratio[1]}" if ratio else "—"]
            lines.append("| " + " | ".join(cells) + " |")
    scenario_rows = [(i, s) for i, run in enumerate(runs) for s in run.get("scenarios", [])]
    if scenario_rows:
        lines += ["", "| machine | model | scenario | metric |", "|---|---|---|---:|"]
        for i, s in scenario_rows:
            lines.append(f"| M{i + 1} | {s['model']} | {s['scenario']} | {scenario_metric(s)} |")
    return "\n".join(lines) + "\n"


def scenario_metric(result: dict) -> str:
    if result["scenario"] == "single-stream":
        return f"p90 {result['p90_ms']:.2f} ms"
    if result["scenario"] == "offline":
        return f"{result['samples_per_second']:,.0f} texts/s"
    peak = result.get("peak_queries_per_second")
    return (f"{peak:,.0f} queries/s at p99 ≤ {result['bound_ms']:.0f} ms" if peak is not None
            else f"no rate held p99 ≤ {result['bound_ms']:.0f} ms")


def compare_plot(runs: list[dict], path: Path) -> None:
    """Throughput of every model and variant at each run's largest batch, one bar per machine."""
    try:
        import matplotlib
    except ImportError:
        raise BenchError("--plot needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = machine_labels(runs)
    models = list(dict.fromkeys((r["model"], r["variant"]) for run in runs for r in run["results"]))
    figure, axis = plt.subplots(figsize=(max(6, 1.2 * len(models) * len(runs)), 4.5))
    width = 0.8 / max(1, len(runs))
    for position, (run, label) in enumerate(zip(runs, labels, strict=True)):
        heights = []
        for model in models:
            rows = [r for r in run["results"] if (r["model"], r["variant"]) == model]
            heights.append(max((r["throughput"] for r in rows if r["batch_size"] == max(x["batch_size"] for x in rows)),
                               default=0) if rows else 0)
        axis.bar([i + position * width for i in range(len(models))], heights, width, label=label)
    axis.set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(models))])
    axis.set_xticklabels([f"{m}\n{v}" for m, v in models], fontsize=7)
    axis.set_yscale("log")
    axis.set_ylabel("sequences / s at the largest batch")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
