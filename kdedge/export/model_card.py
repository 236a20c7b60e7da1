"""The artifact's `README.md`: a Hugging Face model card written from `kdedge.json` alone.

YAML front matter (pipeline tag, tags, base model, datasets, metrics and a `model-index` of the test
results), then what the student is, its teacher and data, the metrics of teacher, student and every
variant, the shipped variant and why, the measured latency with the machine it was measured on, how
to serve it, and its limits. Everything comes from the manifest, so the card never disagrees with it.
"""

from __future__ import annotations

import json
from pathlib import Path

CARD_FILE = "README.md"
PIPELINE_TAGS = {"sequence-classification": "text-classification", "token-classification": "token-classification"}
METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "f1", "entity_f1": "f1", "entity_precision": "precision",
                "entity_recall": "recall"}


def write_model_card(folder: Path, manifest: dict) -> Path:
    path = Path(folder) / CARD_FILE
    path.write_text(model_card(manifest), encoding="utf-8")
    return path


def model_card(manifest: dict) -> str:
    """The card's text for `manifest` (a kdedge.json as a dict)."""
    return _front_matter(manifest) + "\n" + "\n".join(_body(manifest)) + "\n"


def _tasks(manifest: dict) -> list[dict]:
    """[{name, task, labels}] for single- and multi-task manifests alike."""
    if manifest.get("tasks"):
        return manifest["tasks"]
    return [{"name": None, "task": manifest["task"], "labels": manifest.get("labels", [])}]


def _teachers(manifest: dict) -> dict[str, dict]:
    teacher = manifest.get("teacher", {})
    return teacher if teacher and all(isinstance(value, dict) for value in teacher.values()) else {"": teacher}


def _hub_id(name: str | None) -> str | None:
    """`name` when it reads as a Hugging Face hub id (owner/name or name), not a path on this machine."""
    if not name or name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1 or Path(name).exists():
        return None
    return name


def _front_matter(manifest: dict) -> str:
    tasks = _tasks(manifest)
    kind = manifest.get("student", {}).get("kind", "")
    variant = manifest.get("variant", "fp32")
    tags = ["kdedge", "knowledge-distillation", "onnx", kind.replace("multitask-", ""), variant]
    if manifest.get("tasks"):
        tags.append("multi-task")
    lines = ["---", f"pipeline_tag: {PIPELINE_TAGS.get(tasks[0]['task'], tasks[0]['task'])}",
             "library_name: onnx", "tags:", *[f"- {tag}" for tag in dict.fromkeys(tags) if tag]]
    bases = [hub for hub in (_hub_id(t.get("name")) for t in _teachers(manifest).values()) if hub]
    if bases:
        lines += ["base_model:", *[f"- {json.dumps(hub)}" for hub in dict.fromkeys(bases)]]
    sources = [hub for hub in (_hub_id(str(source)) for source in _data_sources(manifest).values()) if hub]
    if sources:
        lines += ["datasets:", *[f"- {json.dumps(hub)}" for hub in dict.fromkeys(sources)]]
    shipped = manifest.get("metrics", {}).get("student_onnx", {})
    names = sorted({METRIC_NAMES[key.split(".")[-1]] for key in shipped if key.split(".")[-1] in METRIC_NAMES})
    if names:
        lines += ["metrics:", *[f"- {name}" for name in names]]
    results = []
    for task in tasks:
        prefix = f"{task['name']}." if task["name"] else ""
        values = [(key, value) for key, value in shipped.items() if key.startswith(prefix) and
                  key[len(prefix):] in METRIC_NAMES]
        if not values:
            continue
        dataset = _data_sources(manifest).get(task["name"] or "", "")
        results += [
            "  - task:", f"      type: {PIPELINE_TAGS.get(task['task'], task['task'])}",
            "    dataset:", f"      name: {json.dumps(Path(str(dataset)).name or 'local data')}",
            f"      type: {json.dumps(str(dataset))}", "      split: test", "    metrics:",
            *[line for key, value in values for line in (
                f"      - type: {METRIC_NAMES[key[len(prefix):]]}", f"        value: {round(float(value), 4)}",
                f"        name: {json.dumps(f'test {key} ({variant})')}")],
        ]
    if results:
        name = manifest.get("recipe", {}).get("name") or "kdedge-student"
        lines += ["model-index:", f"- name: {json.dumps(name)}", "  results:", *results]
    return "\n".join([*lines, "---"]) + "\n"


def _data_sources(manifest: dict) -> dict[str, str]:
    data = manifest.get("data", {})
    if "source" in data:
        return {"": data["source"]}
    return {name: split.get("source", "") for name, split in data.items() if isinstance(split, dict)}


def _body(manifest: dict) -> list[str]:
    student, tasks = manifest.get("student", {}), _tasks(manifest)
    teachers = _teachers(manifest)
    name = manifest.get("recipe", {}).get("name") or "kdedge student"
    kind = student.get("kind", "student")
    what = ", ".join(f"{task['task']}" + (f" ({task['name']})" if task["name"] else "") for task in tasks)
    lines = [f"# {name}", "",
             f"A {kind} student for {what}, distilled from "
             + " and ".join(f"`{t.get('name')}`" + (f" ({key})" if key else "") for key, t in teachers.items())
             + f" by kdedge {manifest.get('kdedge_version', '')}, exported to ONNX and served "
             "by `kdedge-runtime` (onnxruntime, numpy and tokenizers; no torch).", ""]
    lines += ["| | teacher | student |", "|---|---:|---:|",
              f"| parameters | {sum(t.get('params', 0) for t in teachers.values()):,} | {student.get('params', 0):,} |",
              f"| compression | 1x | {manifest.get('compression', 1):g}x |"]
    disk = manifest.get("disk_bytes", {})
    if "teacher_weights" in disk:
        lines.append(f"| disk | {disk['teacher_weights'] / 1e6:.1f} MB | {disk.get('student_onnx', 0) / 1e6:.2f} MB |")
    lines += ["", "## Data", ""]
    data = manifest.get("data", {})
    splits = {"": data} if "source" in data else data
    lines += ["| task | source | train | dev | test | transfer (unlabelled, labelled by the teacher) |",
              "|---|---|---:|---:|---:|---:|"]
    for task_name, split in splits.items():
        lines.append(f"| {task_name or tasks[0]['task']} | `{split.get('source', '')}` | {split.get('train', 0):,} | "
                     f"{split.get('dev', 0):,} | {split.get('test', 0):,} | {split.get('transfer', 0):,} |")
    lines += ["", "## Test metrics", ""] + metrics_markdown(manifest)
    lines += ["", "## Variants", ""] + variants_markdown(manifest)
    lines += ["", "## Latency", ""] + _latency(manifest)
    wheel = manifest.get("runtime_wheel")
    install = ([f"pip install ./{wheel}        # from inside this folder: the runtime ships with the artifact",
                f'pip install "./{wheel}[serve]"   # with the HTTP server'] if wheel
               else ["pip install ./runtime               # from a kdedge checkout"])
    lines += ["", "## Use", "", "```bash", *install,
              "kdedge-runtime predict ARTIFACT \"some text\"",
              "kdedge-runtime predict ARTIFACT --input texts.csv --output predictions.jsonl",
              "kdedge-runtime serve ARTIFACT --port 8000", "```", "", "```python",
              "from kdedge_runtime import Predictor", "", 'predictor = Predictor("ARTIFACT")   # checks the files\' hashes',
              'print(predictor.predict(["some text"]))', "```"]
    lines += ["", "## Limits", ""] + _limits(manifest, tasks)
    return lines


def metrics_markdown(manifest: dict) -> list[str]:
    metrics = manifest.get("metrics", {})
    columns = [key for key in ("teacher", "student", "student_onnx") if key in metrics]
    keys = list(dict.fromkeys(key for column in columns for key in metrics[column]))
    if not keys:
        return ["(no metrics recorded)"]
    titles = {"teacher": "teacher (PyTorch fp32)", "student": "student (PyTorch fp32)",
              "student_onnx": f"student ONNX {manifest.get('variant', 'fp32')} (shipped)"}
    header = [titles[c] for c in columns]
    rows = ["| metric | " + " | ".join(header) + " |", "|---|" + "---:|" * len(columns)]
    intervals = manifest.get("intervals", {})
    for key in keys:
        cells = [(f"{metrics[c][key]:.4f}" + (f" ({intervals[c][key][0]:.4f}-{intervals[c][key][1]:.4f})"
                                              if key in intervals.get(c, {}) else "")) if key in metrics[c] else "—"
                 for c in columns]
        rows.append(f"| {key.replace('_', ' ')} | " + " | ".join(cells) + " |")
    lines = [*rows, "", "On the held-out test split, read once for each model reported: no choice (checkpoint or "
                        "variant) was made on it." + (" In brackets: the 95% interval (Wilson) of an accuracy over "
                                                      "the split's rows." if intervals else "")]
    quality = manifest.get("quality")
    if quality:
        lines += ["", f"**Quality bar:** the student keeps {quality['kept']:.1%} of the teacher's test "
                      f"{quality['metric'].replace('_', ' ')} (bar {quality['bar']:.0%}: {quality['verdict']})."
                  + (f" Warning: {quality['warning']}." if quality["warning"] else "")]
    return lines


def variants_markdown(manifest: dict) -> list[str]:
    rows = manifest.get("variants") or []
    if not rows:
        return ["Only the fp32 export was built."]
    lines = ["| variant | size | dev score | agrees with fp32 | latency, batch 32 | moves across batches | shipped | note |",
             "|---|---:|---:|---:|---:|---:|---|---|"]
    for row in rows:
        spread = row.get("batch_score_difference")
        lines.append(" | ".join([
            f"| {row['variant']}", f"{(row.get('file_bytes') or 0) / 1e6:.2f} MB",
            "—" if row.get("score") is None else f"{row['score']:.4f}",
            "—" if row.get("agreement_with_fp32") is None else f"{row['agreement_with_fp32']:.2%}",
            "—" if row.get("latency_ms") is None else f"{row['latency_ms']:.2f} ms",
            "—" if spread is None else f"{spread:.1e}", "yes" if row.get("chosen") else "",
            (row.get("note") or "").replace("|", "/") + " |"]))
    export = manifest.get("recipe", {}).get("export", {})
    lines += ["", f"**Why {manifest.get('variant', 'fp32')}:** the fastest variant on the machine below whose predicted "
              f"labels agree with fp32 on at least {export.get('min_agreement', 0.99):.0%} of the dev rows, whose dev "
              f"score is at most {export.get('max_accuracy_drop', 0.01):g} below fp32's"
              + (f", and whose every dev text keeps its label and probabilities within "
                 f"{export.get('batch_tolerance', 1e-4):g} in any batch" if export.get("batch_invariant", True) else "")
              + ". Variants are measured and chosen on the dev split, so the test metrics above are of the shipped "
              "model alone."]
    return lines


def _latency(manifest: dict) -> list[str]:
    latency, machine = manifest.get("latency_ms_batch32"), manifest.get("machine")
    where = (f"{machine.get('cpu', 'unknown CPU')}, {machine.get('cores', '?')} cores, ISA "
             f"{', '.join(machine.get('isa') or []) or 'n/a'}, onnxruntime {machine.get('onnxruntime', '?')}"
             if machine else "the machine that built it (not recorded)")
    if not latency or "student_onnx" not in latency:
        return [f"Variant latencies above were measured on {where}."]
    line = (f"One batch of {latency.get('batch_size', 32)} test texts x {latency.get('seq_len', '?')} tokens, median, "
            f"measured side by side on {where}: student {latency['student_onnx']:.2f} ms")
    if latency.get("teacher_torch_fp32"):
        line += (f", teacher (PyTorch fp32) {latency['teacher_torch_fp32']:.1f} ms "
                 f"({latency['teacher_torch_fp32'] / latency['student_onnx']:.0f}x faster)")
    lines = [line + ". Measure on your own hardware with `kdedge bench ARTIFACT`."]
    budget = latency.get("budget")
    if budget:
        lines.append(f"\nLatency budget `{budget['spec']}`: the shipped model measured {budget['measured_ms']:.1f} ms "
                     f"at that batch and length ({'met' if budget['met'] else 'not met on that run'}).")
    return lines


def _limits(manifest: dict, tasks: list[dict]) -> list[str]:
    lines = [f"- Inputs longer than {manifest.get('max_length')} tokens are truncated "
             "(NER: words past the limit get no entity)."]
    for task in tasks:
        lines.append(f"- {task['name'] + ': ' if task['name'] else ''}labels "
                     + ", ".join(f"`{label}`" for label in task.get("labels", [])) + ".")
    lines += ["- A distilled student keeps most, not all, of its teacher's quality (see the metrics above); "
              "check it on your own data before relying on it.",
              "- Trained on the data above only: texts from another domain or language may score lower."]
    return lines
