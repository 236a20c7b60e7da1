"""Extract Then Distill: does starting from the teacher's weights save distillation compute?

    python benchmarks/etd_init.py [--epochs 3] [--evals-per-epoch 24] [--target 30x] [--set distill.KEY=VALUE ...]
                                  [--run-dir benchmarks/results/compress_default/run]

Distils the same tiny-Transformer shape (the sentiment-transformer recipe's, at --target) from five starts:
`random` initialisation, `etd-rand` (teacher layers kept uniformly, widths at random) and `etd-impt`
(layers, heads, head dims, FFN neurons and hidden dims kept by gradient importance) as extracted, and
the two extractions after layer-wise reconstruction (kdedge.reconstruct: each kept layer re-fitted
in closed form to the teacher's activations on 512 transfer texts), with the same data, teacher
logits, optimiser, schedule and number of steps, and no early stopping. It prints dev accuracy
against training steps, the steps each needs to reach 95% of the teacher's dev accuracy and the
seconds spent building each student (importance scoring, extraction, reconstruction), and draws the
curves. It reuses the fine-tuned teacher and cached logits of
`benchmarks/compress_default.py` when they are in the run directory (same teacher, data and recipe).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from kdedge.machine import fingerprint

STARTS = (  # (label, student.init, student.reconstruct)
    ("random", "random", False),
    ("etd-rand", "etd-rand", False),
    ("etd-impt", "etd-impt", False),
    ("etd-rand + reconstruction", "etd-rand", True),
    ("etd-impt + reconstruction", "etd-impt", True),
)


def main() -> None:
    import torch
    from kdedge_runtime.encoding import TextEncoder

    from kdedge.distill import OnlineTeacher, dev_score, distill, resolve_layer_pairs
    from kdedge.pipeline import distill_sets, prepare
    from kdedge.progress import Reporter
    from kdedge.recipe import load_recipe
    from kdedge.students.build import build_student
    from kdedge.teacher import count_params

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--evals-per-epoch", type=int, default=24)
    parser.add_argument("--run-dir", type=Path, default=Path("benchmarks/results/compress_default/run"))
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--target", default="30x", help="compression ratio of the student (default 30x)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="extra recipe override, e.g. distill.learning_rate=1e-3 (repeatable)")
    parser.add_argument("--name", default="etd_init", help="file name stem of the results (default etd_init)")
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="only redraw the table and plot from an earlier run's JSON (no training)")
    args = parser.parse_args()
    if args.render:
        render(json.loads(args.render.read_text()), args.render.with_suffix(""))
        return

    reporter = Reporter()
    base = load_recipe("sentiment-transformer").with_overrides(
        [f"distill.epochs={args.epochs}", f"distill.evals_per_epoch={args.evals_per_epoch}",
         "distill.patience=1000000", f"student.target={args.target}", *args.overrides])
    prepared = prepare(base, args.run_dir, reporter)
    teacher_dev = float((prepared.teacher_logits["dev"].argmax(1) == prepared.data.dev.labels).mean())
    goal = 0.95 * teacher_dev
    curves: dict[str, list[dict]] = {}
    rows = []
    for init, method, rebuilt in STARTS:
        recipe = base.with_overrides([f"student.init={method}", f"student.reconstruct={str(rebuilt).lower()}"])
        reporter.step(f"init {init}")
        started = time.perf_counter()
        built = build_student(prepared.teacher, prepared.encoder, prepared.data, recipe.student, reporter)
        build_seconds = time.perf_counter() - started
        encoder = TextEncoder(built.tokenizer, recipe.data.max_length, built.pad_token_id)
        train, dev = distill_sets(prepared, recipe)
        start_accuracy = dev_score(built.model, encoder, dev)
        pairs = resolve_layer_pairs(recipe.distill, built.model.config.num_layers,
                                    prepared.teacher.model.config.num_hidden_layers)
        online = OnlineTeacher(prepared.teacher.model, torch.from_numpy(built.teacher_ids).long())
        result = distill(built.model, encoder, train, dev, recipe.distill, reporter, pairs, online)
        curve = [{"step": 0, "dev_score": start_accuracy}] + result.history
        curves[init] = curve
        rows.append({"init": init, "params": count_params(built.model), "dev_at_start": start_accuracy,
                     "best_dev": result.best_dev_score, "steps_to_95pct_teacher": steps_to(curve, goal),
                     "build_seconds": build_seconds,
                     "minutes": (time.perf_counter() - started) / 60, "shape": built.shape})

    command = "python benchmarks/etd_init.py " + " ".join(sys.argv[1:])
    stages = ", ".join(f"{s.name} ({_weights(s)})" for s in base.distill.resolved_stages)
    measured = {"command": command.strip(), "machine": fingerprint(), "teacher_dev_accuracy": teacher_dev,
                "target": args.target, "epochs": args.epochs, "evals_per_epoch": args.evals_per_epoch,
                "learning_rate": base.distill.learning_rate, "batch_size": base.distill.batch_size,
                "stages": stages, "rows": rows, "curves": curves}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / f"{args.name}.json").write_text(json.dumps(measured, indent=2))
    render(measured, args.output_dir / args.name)


def steps_to(curve: list[dict], goal: float) -> int | None:
    """The first evaluated step whose dev accuracy reaches `goal` (None: never)."""
    return next((point["step"] for point in curve if point["dev_score"] >= goal), None)


def render(measured: dict, stem: Path) -> None:
    """Write STEM.md (the table) and STEM.png (the curves) from a run's measurements."""
    rows, curves, teacher = measured["rows"], measured["curves"], measured["teacher_dev_accuracy"]
    machine = measured["machine"]
    lines = [
        f"command: `{measured['command']}`",
        f"machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}",
        f"student: {rows[0]['shape']}",
        f"distillation: {measured['stages']}",
        f"teacher dev accuracy {teacher:.4f}; goals: 95% of it = {0.95 * teacher:.4f}, 90% = {0.90 * teacher:.4f}; "
        f"{measured['epochs']} epochs, dev evaluated {measured['evals_per_epoch']}x per epoch "
        f"(every {curves['random'][1]['step']} steps), no early stopping; learning rate "
        f"{measured['learning_rate']:g} (one-cycle), batch {measured['batch_size']}, same for every init",
        "",
        "| init | seconds to build | dev accuracy before training | best dev accuracy "
        "| steps to 95% of teacher | saving vs random | steps to 90% of teacher | saving vs random |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        cells = []
        for share in (0.95, 0.90):
            goal = share * teacher
            steps, baseline = steps_to(curves[row["init"]], goal), steps_to(curves["random"], goal)
            saving = (f"{1 - steps / baseline:.0%}" if steps is not None and baseline else
                      ("random never reached it" if steps is not None else "—"))
            cells += [str(steps) if steps is not None else "not reached", saving]
        lines.append(f"| {row['init']} | {row['build_seconds']:.0f} | {row['dev_at_start']:.4f} | "
                     f"{row['best_dev']:.4f} | {' | '.join(cells)} |")
    print("\n".join(lines))
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    _plot(curves, 0.95 * teacher, teacher, stem.with_suffix(".png"), measured["target"])


def _weights(stage) -> str:
    return " + ".join(f"{name} {value:g}" for name, value in vars(stage.losses).items() if value)


def _plot(curves: dict[str, list[dict]], goal: float, teacher: float, path: Path, target: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.2))
    for init, curve in curves.items():
        axis.plot([p["step"] for p in curve], [p["dev_score"] for p in curve], marker=".", label=init)
    axis.axhline(teacher, color="black", linewidth=1, label="teacher")
    axis.axhline(goal, color="grey", linestyle="--", linewidth=1, label="95% of teacher")
    axis.axhline(goal * 90 / 95, color="grey", linestyle=":", linewidth=1, label="90% of teacher")
    axis.set_xlabel("distillation steps (batch 64)")
    axis.set_ylabel("dev accuracy")
    axis.set_title(f"{target} tiny-Transformer student: initialisation vs distillation steps")
    axis.legend(loc="lower right")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
