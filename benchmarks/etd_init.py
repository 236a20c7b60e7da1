"""Extract Then Distill: does starting from the teacher's weights save distillation compute?

    python benchmarks/etd_init.py [--epochs 3] [--run-dir benchmarks/results/compress_default/run]

Distils the same 30x tiny-Transformer shape (the sentiment-transformer recipe's) from three starts:
`random` initialisation, `etd-rand` (teacher layers kept uniformly, widths at random) and `etd-impt`
(layers, heads, head dims, FFN neurons and hidden dims kept by gradient importance), with the same
data, teacher logits, optimiser, schedule and number of steps, and no early stopping. It prints dev
accuracy against training steps and the steps each needs to reach 95% of the teacher's dev accuracy,
and draws the curves. It reuses the fine-tuned teacher and cached logits of
`benchmarks/compress_default.py` when they are in the run directory (same teacher, data and recipe).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from kdedge.machine import fingerprint

INITS = ("random", "etd-rand", "etd-impt")


def main() -> None:
    from kdedge.distill import dev_accuracy, distill
    from kdedge.pipeline import prepare
    from kdedge.progress import Reporter
    from kdedge.recipe import load_recipe
    from kdedge.students.build import build_student
    from kdedge.teacher import count_params
    from kdedge_runtime.encoding import TextEncoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--evals-per-epoch", type=int, default=8)
    parser.add_argument("--run-dir", type=Path, default=Path("benchmarks/results/compress_default/run"))
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()

    reporter = Reporter()
    base = load_recipe("sentiment-transformer").with_overrides(
        [f"distill.epochs={args.epochs}", f"distill.evals_per_epoch={args.evals_per_epoch}",
         "distill.patience=1000000"])
    prepared = prepare(base, args.run_dir, reporter)
    teacher_dev = float((prepared.teacher_logits["dev"].argmax(1) == prepared.data.dev.labels).mean())
    goal = 0.95 * teacher_dev
    curves: dict[str, list[dict]] = {}
    rows = []
    for init in INITS:
        recipe = base.with_overrides([f"student.init={init}"])
        reporter.step(f"init {init}")
        started = time.perf_counter()
        built = build_student(prepared.teacher, prepared.encoder, prepared.data, recipe.student, reporter)
        encoder = TextEncoder(built.tokenizer, recipe.data.max_length, built.pad_token_id)
        start_accuracy = dev_accuracy(built.model, encoder, prepared.data.dev)
        result = distill(built.model, encoder, prepared.data.transfer, prepared.teacher_logits["transfer"],
                         prepared.data.dev, recipe.distill, reporter)
        curve = [{"step": 0, "dev_accuracy": start_accuracy}] + result.history
        curves[init] = curve
        reached = next((point["step"] for point in curve if point["dev_accuracy"] >= goal), None)
        rows.append({"init": init, "params": count_params(built.model), "dev_at_start": start_accuracy,
                     "best_dev": result.best_dev_accuracy, "steps_to_95pct_teacher": reached,
                     "minutes": (time.perf_counter() - started) / 60, "shape": built.shape})

    machine = fingerprint()
    command = "python benchmarks/etd_init.py " + " ".join(sys.argv[1:])
    by_init = {row["init"]: row for row in rows}
    lines = [
        f"command: `{command.strip()}`",
        f"machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}",
        f"student: {rows[0]['shape']}",
        f"teacher dev accuracy {teacher_dev:.4f}; goal = 95% of it = {goal:.4f}; "
        f"{args.epochs} epochs, dev evaluated {args.evals_per_epoch}x per epoch, no early stopping; "
        f"learning rate {base.distill.learning_rate:g} (one-cycle), batch {base.distill.batch_size}, same for every init",
        "",
        "| init | dev accuracy before training | best dev accuracy | steps to 95% of teacher | saving vs random |",
        "|---|---:|---:|---:|---:|",
    ]
    random_steps = by_init["random"]["steps_to_95pct_teacher"]
    for row in rows:
        steps = row["steps_to_95pct_teacher"]
        saving = (f"{1 - steps / random_steps:.0%}" if steps is not None and random_steps else
                  ("random never reached it" if steps is not None else "—"))
        lines.append(f"| {row['init']} | {row['dev_at_start']:.4f} | {row['best_dev']:.4f} | "
                     f"{steps if steps is not None else 'not reached'} | {saving} |")
    print("\n".join(lines))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "etd_init.md").write_text("\n".join(lines) + "\n")
    (args.output_dir / "etd_init.json").write_text(json.dumps(
        {"command": command, "machine": machine, "teacher_dev_accuracy": teacher_dev, "rows": rows,
         "curves": curves}, indent=2))
    _plot(curves, goal, teacher_dev, args.output_dir / "etd_init.png")


def _plot(curves: dict[str, list[dict]], goal: float, teacher: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.2))
    for init, curve in curves.items():
        axis.plot([p["step"] for p in curve], [p["dev_accuracy"] for p in curve], marker=".", label=init)
    axis.axhline(teacher, color="black", linewidth=1, label="teacher")
    axis.axhline(goal, color="grey", linestyle="--", linewidth=1, label="95% of teacher")
    axis.set_xlabel("distillation steps (batch 64)")
    axis.set_ylabel("dev accuracy")
    axis.set_title("30x tiny-Transformer student: initialisation vs distillation steps")
    axis.legend(loc="lower right")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
