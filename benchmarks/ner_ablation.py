"""The NER recipe's ablation: what each of its distillation choices adds, on one fine-tuned teacher.

    python benchmarks/ner_ablation.py [--seeds 0 1] [--run-dir benchmarks/results/seeds_ner-bilstm/seed0/run]

Every row is `kdedge compress --recipe ner-bilstm` with some of the recipe's choices taken back (`--set`),
sharing one run directory, so the teacher is fine-tuned and the transfer set labelled once and only the
student changes. Rows add choices one at a time: the recipe before issue 18 (no entity weighting,
5 + 3 epochs in the logit and label stages, no casing), entity weighting (8), longer logit and label
stages (8 + 6 epochs), the student's casing input; then half the entity weight, none (the recipe, which
dropped entity weighting after this table), and the recipe without its representation stage (the
word-by-word hidden-state matching). `--seeds` repeats every row with other distillation seeds (`distill.seed`,
`student.seed`; the split and the teacher stay those of `data.seed` 0 and `teacher.seed` 0), and
`--rows 3 5` runs only those rows (into `ner_ablation_rows.{md,json}`); `--set KEY=VALUE` changes every
row (`--set data.max_transfer=20000`: the transfer set the committed tables were measured with).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from kdedge.bench.machine import fingerprint, machine_line
from kdedge.bench.spread import mean_sd

LOGITS = "{name: logits, losses: {soft_logits: 1.0}, epochs: %d}"
LABELS = "{name: labels, losses: {hard_labels: 1.0, gold_labels: 1.0}, epochs: %d, unfreeze: gradual}"
REPRESENTATION = "{name: representation, losses: {hidden_states: 1.0}, epochs: 2}"

VARIANTS = {  # each row names every choice it differs in, so it means the same whatever the recipe holds
    "before: no entity weight, 5 + 3 epochs, no casing": [
        "distill.entity_weight=0", "student.casing=false",
        f"distill.stages=[{REPRESENTATION}, {LOGITS % 5}, {LABELS % 3}]"],
    "entity weight 8, 5 + 3 epochs, no casing": [
        "distill.entity_weight=8", "student.casing=false",
        f"distill.stages=[{REPRESENTATION}, {LOGITS % 5}, {LABELS % 3}]"],
    "entity weight 8, 8 + 6 epochs, no casing": ["distill.entity_weight=8", "student.casing=false"],
    "entity weight 8, 8 + 6 epochs, casing": ["distill.entity_weight=8"],
    "entity weight 4, 8 + 6 epochs, casing": ["distill.entity_weight=4"],
    "the recipe: no entity weight, 8 + 6 epochs, casing": [],
    "the recipe without the representation stage": [f"distill.stages=[{LOGITS % 8}, {LABELS % 6}]"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="distillation seeds per row")
    parser.add_argument("--run-dir", type=Path, default=None, help="a run folder to share (its teacher is reused)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="a recipe override for every row, e.g. data.max_transfer=20000 (repeatable)")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--rows", type=int, nargs="+", default=None,
                        help="only these rows (0 = the first), written to ner_ablation_rows.{md,json}")
    args = parser.parse_args()
    name = "ner_ablation" + ("_rows" if args.rows else "")
    variants = {key: value for number, (key, value) in enumerate(VARIANTS.items())
                if args.rows is None or number in args.rows}
    work = args.output_dir / name
    run_dir = args.run_dir or work / "run"
    started = time.perf_counter()
    rows = []
    for variant, overrides in variants.items():
        for seed in args.seeds:
            artifact = work / f"{len(rows)}" / "artifact"
            sets = [*args.overrides, *overrides, f"distill.seed={seed}", f"student.seed={seed}"]
            command = ["kdedge", "compress", "--recipe", "ner-bilstm", *(p for s in sets for p in ("--set", s)),
                       "--output", str(artifact), "--run-dir", str(run_dir)]
            print("$", " ".join(command), flush=True)
            subprocess.run(command, check=True)
            manifest = json.loads((artifact / "kdedge.json").read_text())
            metrics = manifest["metrics"]
            dev = max(stage["best_dev_score"] for stage in manifest["training"]["history"])
            rows.append({"variant": variant, "seed": seed, "overrides": overrides, "dev_entity_f1": dev,
                         "teacher": metrics["teacher"], "student": metrics["student_onnx"],
                         "shipped": manifest["variant"]})
    summary = {"command": "python benchmarks/ner_ablation.py --seeds " + " ".join(map(str, args.seeds))
               + (f" --run-dir {args.run_dir}" if args.run_dir else "")
               + (" --rows " + " ".join(map(str, args.rows)) if args.rows else "")
               + "".join(f" --set {item}" for item in args.overrides),
               "minutes": (time.perf_counter() - started) / 60, "machine": fingerprint(), "rows": rows}
    (args.output_dir / f"{name}.json").write_text(json.dumps(summary, indent=2))
    text = markdown(summary)
    (args.output_dir / f"{name}.md").write_text(text)
    print(text)


def markdown(summary: dict) -> str:
    machine = summary["machine"]
    lines = [f"command: `{summary['command']}` ({summary['minutes']:.0f} min)",
             machine_line(machine), "",
             "| 30x BiLSTM tagger | dev entity F1 (best stage) | test entity F1 (shipped) | precision | recall | kept |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in dict.fromkeys(row["variant"] for row in summary["rows"]):
        rows = [row for row in summary["rows"] if row["variant"] == name]
        teacher = rows[0]["teacher"]["entity_f1"]

        def mean(values):
            return mean_sd(values)[0]

        f1 = [row["student"]["entity_f1"] for row in rows]
        spread = f" ± {mean_sd(f1)[1]:.4f}" if len(f1) > 1 else ""
        lines.append(f"| {name} | {mean([row['dev_entity_f1'] for row in rows]):.4f} | {mean(f1):.4f}{spread} | "
                     f"{mean([row['student']['entity_precision'] for row in rows]):.4f} | "
                     f"{mean([row['student']['entity_recall'] for row in rows]):.4f} | {mean(f1) / teacher:.1%} |")
    teacher = summary["rows"][0]["teacher"]
    lines.append(f"| teacher (MiniLM-L6) | | {teacher['entity_f1']:.4f} | {teacher['entity_precision']:.4f} | "
                 f"{teacher['entity_recall']:.4f} | 100% |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
