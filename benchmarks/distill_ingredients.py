"""What each distillation ingredient adds, for the BiLSTM and the tiny-Transformer student.

    python benchmarks/distill_ingredients.py [--kinds bilstm,transformer] [--target 30x]
                                             [--run-dir benchmarks/results/compress_default/run]

For each student kind, the same student (same shape and initialisation as the built-in recipe of that
kind) is distilled on the packaged tweet data with four objectives, each with the same epoch budget:

1. hard: cross-entropy on the teacher's argmax labels over the transfer set (XtremeDistil's hard
   distillation);
2. + soft: plus KL to the teacher's softened logits (the built-in recipes' objective);
3. + intermediate: plus hidden-state matching (student's last layer → teacher's last layer, mean over
   tokens, through a learned projection) and, for the Transformer, attention-distribution matching;
4. staged: XtremeDistil's schedule — representations (hidden states, + attention), then soft logits,
   then hard and gold labels with gradual unfreezing — splitting the same epoch budget.

Prints test accuracy of each student (PyTorch fp32, best dev checkpoint) against the teacher's, and
writes Markdown and JSON. Reuses the fine-tuned teacher and teacher cache of
`benchmarks/compress_default.py` when they are in the run directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from kdedge.bench.machine import fingerprint

RECIPES = {"bilstm": "sentiment-bilstm", "transformer": "sentiment-transformer"}


def objectives(kind: str, epochs: int) -> dict[str, list[dict]]:
    """Name → stages, with the same total number of epochs."""
    intermediate = {"hidden_states": 1.0, **({"attention": 1.0} if kind == "transformer" else {})}
    first, second = max(1, epochs * 3 // 10), max(1, epochs * 4 // 10)
    return {
        "hard": [{"name": "distill", "losses": {"hard_labels": 1.0}}],
        "+ soft": [{"name": "distill", "losses": {"hard_labels": 1.0, "soft_logits": 1.0}}],
        "+ intermediate": [{"name": "distill", "losses": {"hard_labels": 1.0, "soft_logits": 1.0, **intermediate}}],
        "staged": [
            {"name": "representation", "losses": intermediate, "epochs": first},
            {"name": "logits", "losses": {"soft_logits": 1.0}, "epochs": second},
            {"name": "labels", "losses": {"hard_labels": 1.0, "gold_labels": 1.0}, "epochs": epochs - first - second,
             "unfreeze": "gradual"},
        ],
    }


def main() -> None:
    import torch

    from kdedge.distill.loop import OnlineTeacher, distill, resolve_layer_pairs
    from kdedge.pipeline.prepare import distill_sets, prepare
    from kdedge.progress import Reporter
    from kdedge.recipe import Recipe, load_recipe
    from kdedge.students.build import build_student
    from kdedge.teacher.labelling import model_logits
    from kdedge.teacher.loading import count_params
    from kdedge_runtime.encoding import TextEncoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="bilstm,transformer")
    parser.add_argument("--target", default="30x")
    parser.add_argument("--run-dir", type=Path, default=Path("benchmarks/results/compress_default/run"))
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()

    reporter = Reporter()
    rows = []
    teacher_accuracy = None
    bases = {kind: load_recipe(RECIPES[kind]).with_overrides([f"student.target={args.target}"])
             for kind in args.kinds.split(",")}  # read once: the run takes an hour
    for kind, base in bases.items():
        for name, stages in objectives(kind, base.distill.epochs).items():
            values = base.to_dict()
            values["distill"]["stages"] = stages
            recipe = Recipe.from_dict(values)
            prepared = prepare(recipe, args.run_dir, reporter)
            labels = prepared.data.test.labels
            teacher_accuracy = float((prepared.teacher_logits["test"].argmax(1) == labels).mean())
            reporter.step(f"{kind}: {name}")
            started = time.perf_counter()
            built = build_student(prepared.teacher, prepared.encoder, prepared.data, recipe.student, reporter)
            encoder = TextEncoder(built.tokenizer, recipe.data.max_length, built.pad_token_id)
            train, dev = distill_sets(prepared, recipe)
            depth = len(built.model.layer_groups()) - 2
            pairs = resolve_layer_pairs(recipe.distill, depth, prepared.teacher.model.config.num_hidden_layers)
            ids = torch.from_numpy(built.teacher_ids).long() if built.teacher_ids is not None else None
            attention = any(stage.losses.attention for stage in recipe.distill.resolved_stages)
            online = OnlineTeacher(prepared.teacher.model, ids) if attention else None
            try:
                result = distill(built.model, encoder, train, dev, recipe.distill, reporter, pairs, online)
            finally:
                if online is not None:
                    online.restore()
            test_logits = model_logits(built.model, encoder, prepared.data.test.texts, batch_size=256)
            accuracy = float((test_logits.argmax(1) == labels).mean())
            rows.append({"kind": kind, "objective": name, "params": count_params(built.model),
                         "compression": prepared.teacher.params / count_params(built.model),
                         "best_dev": result.best_dev_score, "test_accuracy": accuracy,
                         "kept": accuracy / teacher_accuracy, "steps": result.steps,
                         "minutes": (time.perf_counter() - started) / 60,
                         "stages": [{"name": s.name, "best_dev": s.best_dev_score, "steps": s.steps}
                                    for s in result.stages]})
            reporter.note(f"{kind} {name}: test accuracy {accuracy:.4f} ({accuracy / teacher_accuracy:.1%} of the "
                          f"teacher), {result.steps} steps, {rows[-1]['minutes']:.1f} min")

    machine = fingerprint()
    command = "python benchmarks/distill_ingredients.py " + " ".join(sys.argv[1:])
    lines = [
        f"command: `{command.strip()}`",
        f"machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}",
        f"teacher (MiniLM-L6, fine-tuned) test accuracy {teacher_accuracy:.4f}; students at {args.target}, "
        "PyTorch fp32 at the best dev checkpoint, same epoch budget per kind",
        "",
        "| student | objective | params | best dev accuracy | test accuracy | % of teacher | steps | minutes |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *[f"| {r['kind']} | {r['objective']} | {r['params']:,} | {r['best_dev']:.4f} | {r['test_accuracy']:.4f} | "
          f"{r['kept']:.1%} | {r['steps']} | {r['minutes']:.1f} |" for r in rows],
    ]
    print("\n".join(lines))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "distill_ingredients.md").write_text("\n".join(lines) + "\n")
    (args.output_dir / "distill_ingredients.json").write_text(json.dumps(
        {"command": command, "machine": machine, "teacher_test_accuracy": teacher_accuracy, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
