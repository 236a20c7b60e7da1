"""The closing table a person reads after `kdedge compress`."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from kdedge.export.model_card import variants_markdown


def _size(value: float | None) -> str:
    return "—" if value is None else f"{value / 1e6:.1f} MB"


def _metric(metrics: dict, name: str, key: str) -> str:
    return f"{metrics[name][key]:.4f}" if name in metrics else "—"


def _plus_minus(intervals: dict, model: str, key: str) -> str:
    """` ±0.019`: half the width of the metric's 95% interval, where one was recorded."""
    bounds = intervals.get(model, {}).get(key)
    return f" ±{(bounds[1] - bounds[0]) / 2:.3f}" if bounds else ""


def _closing_table(title: str, teacher: str, manifest: dict, seconds: float | None) -> Table:
    """The closing table's title and columns: teacher(s), the student in PyTorch, the shipped ONNX variant."""
    if seconds is not None:
        title += f" ({seconds / 60:.1f} min)"
    table = Table(title=title)
    table.add_column("")
    table.add_column(f"{teacher} (PyTorch fp32)", justify="right")
    table.add_column("student fp32", justify="right")
    table.add_column(f"student ONNX {manifest.get('variant', 'fp32')} (artifact)", justify="right")
    return table


def compression_table(manifest: dict, seconds: float | None = None) -> Table:
    metrics, disk, latency = manifest["metrics"], manifest.get("disk_bytes", {}), manifest.get("latency_ms_batch32", {})
    table = _closing_table(f"kdedge: {manifest['teacher']['name']} → {manifest['student']['kind']} student",
                           "teacher", manifest, seconds)
    teacher_params, student_params = manifest["teacher"]["params"], manifest["student"]["params"]
    deployed = "student_onnx"
    table.add_row("parameters", f"{teacher_params:,}", f"{student_params:,}", f"{student_params:,}")
    table.add_row("compression", "1x", f"{manifest['compression']:.1f}x", f"{manifest['compression']:.1f}x")
    table.add_row("disk size", _size(disk.get("teacher_weights")), _size(disk.get("student_onnx_fp32")),
                  _size(disk.get(deployed)))
    intervals = manifest.get("intervals", {})
    for key in metrics["teacher"]:
        label = f"test {key.replace('_', ' ')}" + (" (± 95% interval)" if key in intervals.get("teacher", {}) else "")
        table.add_row(label, *(_metric(metrics, model, key) + _plus_minus(intervals, model, key)
                               for model in ("teacher", "student", deployed)))
    main = "entity_f1" if "entity_f1" in metrics["teacher"] else "accuracy"
    if "student" in metrics and deployed in metrics and metrics["teacher"][main]:
        kept = metrics[deployed][main] / metrics["teacher"][main]
        table.add_row(f"{main.replace('_', ' ')} kept", "100%",
                      f"{metrics['student'][main] / metrics['teacher'][main]:.1%}", f"{kept:.1%}")
    if latency:
        shape = f"batch {latency['batch_size']} x {latency['seq_len']}"
        table.add_row(f"CPU latency ({shape})", f"{latency['teacher_torch_fp32']:.1f} ms", "",
                      f"{latency['student_onnx']:.2f} ms "
                      f"({latency['teacher_torch_fp32'] / latency['student_onnx']:.0f}x)")
    return table


def variants_table(manifest: dict) -> Group | None:
    """Every variant `compress` built and measured on this CPU, the shipped one marked, and each variant's
    note (why it did not ship) numbered below the table, so that the table fits 80 columns (a log file,
    a CI console) and a long note wraps as a paragraph, not one word per line."""
    rows = manifest.get("variants")
    if not rows:
        return None
    table = Table(title="variants, chosen on the dev split (ms: one batch of 32 on this CPU)", box=box.SIMPLE_HEAD, pad_edge=False,
                  caption="MB: size on disk; agree: predictions equal to fp32's; batch Δ: largest probability change "
                          "across batchings", caption_justify="left")
    metric = rows[0].get("metric", "accuracy").replace("_", " ")
    for column in ("variant", "MB", metric, "agree", "ms", "batch Δ", "shipped", "note"):
        table.add_column(column, justify="left" if column == "variant" else "right", no_wrap=column == "variant")
    notes = []
    for row in rows:
        if row["note"]:
            notes.append(row["note"])
        table.add_row(
            row["variant"], "—" if not row["file_bytes"] else f"{row['file_bytes'] / 1e6:.1f}",
            "—" if row["score"] is None else f"{row['score']:.4f}",
            "—" if row["agreement_with_fp32"] is None else f"{row['agreement_with_fp32']:.2%}",
            "—" if row["latency_ms"] is None else f"{row['latency_ms']:.2f}",
            batch_spread(row), "✓" if row["chosen"] else "", f"[{len(notes)}]" if row["note"] else "",
        )
    explained = [Text(f"[{number}] {row_note}") for number, row_note in enumerate(notes, start=1)]
    return Group(table, *explained)


def batch_spread(row: dict) -> str:
    """The largest change of a dev text's probabilities between batchings (export.batch_invariant), or —."""
    spread = row.get("batch_score_difference")
    return "—" if spread is None else ("0" if spread == 0 else f"{spread:.1e}")


def multitask_table(manifest: dict, seconds: float | None = None) -> Table:
    """The closing table of a multi-task run: each task's main test metric, teacher against student."""
    metrics, latency = manifest["metrics"], manifest.get("latency_ms_batch32", {})
    table = _closing_table(f"kdedge: {len(manifest['tasks'])} teachers → one {manifest['student']['kind']} student",
                           "teachers", manifest, seconds)
    teacher_params = sum(t["params"] for t in manifest["teacher"].values())
    student_params = manifest["student"]["params"]
    table.add_row("parameters", f"{teacher_params:,}", f"{student_params:,}", f"{student_params:,}")
    table.add_row("compression (vs all teachers)", "1x", f"{manifest['compression_vs_all_teachers']:.1f}x",
                  f"{manifest['compression_vs_all_teachers']:.1f}x")
    intervals = manifest.get("intervals", {})
    for task in manifest["tasks"]:
        key = f"{task['name']}.{'entity_f1' if task['task'] == 'token-classification' else 'accuracy'}"
        table.add_row(f"{task['name']}: test {key.split('.')[1].replace('_', ' ')}",
                      *(_metric(metrics, model, key) + _plus_minus(intervals, model, key)
                        for model in ("teacher", "student", "student_onnx")))
    if latency:
        table.add_row("CPU latency (batch 32, all tasks)", f"{latency['teacher_torch_fp32']:.1f} ms", "",
                      f"{latency['student_onnx']:.2f} ms "
                      f"({latency['teacher_torch_fp32'] / latency['student_onnx']:.0f}x)")
    return table


def final_values(manifest: dict) -> dict:
    """A finished run's closing figures for an experiment tracker: every test metric of teacher, student
    and variant, compression and latency under `final/...`, and the variants table as Markdown text."""
    values: dict = {"final/compression": float(manifest.get("compression", 1.0))}
    for model, metrics in manifest.get("metrics", {}).items():
        for name, value in metrics.items():
            if isinstance(value, (int, float)):
                values[f"final/{model}/{name}"] = float(value)
    for name, value in (manifest.get("latency_ms_batch32") or {}).items():
        if isinstance(value, (int, float)) and name not in ("batch_size", "seq_len", "threads"):
            values[f"final/latency_ms/{name}"] = float(value)
    if manifest.get("variants"):
        values["final/variants"] = "\n".join(variants_markdown(manifest))
    return values
