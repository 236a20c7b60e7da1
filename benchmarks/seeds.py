"""Quality over seeds: one recipe compressed once per seed, teacher and student alike, mean and spread.

    python benchmarks/seeds.py --recipe ner-bilstm [--seeds 0 1 2] [--set student.target=50x ...]
        [--compare student.shape_by=parameters]

A small test split cannot tell one seed's luck from a real gain (the tweet NER test split has about 300
entities). Each seed here sets the data split (`data.seed`: a different train/dev/test draw, so the
seeds together are a repeated random-split cross-validation), the teacher's fine-tuning
(`teacher.seed`), the student's initialisation (`student.seed`) and the distillation (`distill.seed`),
and runs `kdedge compress` from scratch in its own run directory. The table gives, per seed and as
mean ± standard deviation, the teacher's and the shipped student's test metric and the share kept,
and, for NER, the entity F1 pooled over every seed's test split (true positives, predictions and gold
entities summed before P/R/F1), which weighs each entity once rather than each split.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

from kdedge.bench.machine import fingerprint, machine_line
from kdedge.bench.spread import mean_sd, spread

SEED_KEYS = ("data.seed", "teacher.seed", "student.seed", "distill.seed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="sentiment-bilstm", help="a built-in recipe name or a recipe file")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="a recipe override for every seed (key=value), e.g. student.target=50x")
    parser.add_argument("--compare", action="append", default=[],
                        help="an override for a second student per seed, side by side (key=value)")
    parser.add_argument("--name", default=None, help="results name (default: seeds_<recipe>)")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--keep-run-dir", action="store_true", help="reuse the seeds' earlier run folders")
    args = parser.parse_args()
    name = args.name or f"seeds_{Path(args.recipe).stem}"
    work = args.output_dir / name
    if not args.keep_run_dir:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    started = time.perf_counter()
    for seed in args.seeds:
        folder = work / f"seed{seed}"
        overrides = [*args.overrides, *(f"{key}={seed}" for key in SEED_KEYS)]
        command = ["kdedge", "compress", "--recipe", args.recipe, *(part for item in overrides for part in ("--set", item)),
                   "--output", str(folder / "artifact"), "--run-dir", str(folder / "run")]
        print("$", " ".join(command), flush=True)
        subprocess.run(command, check=True)
        manifest = json.loads((folder / "artifact" / "kdedge.json").read_text())
        rows.append(seed_row(seed, manifest, args.recipe, overrides))
        if args.compare:
            second = [*command[:-4], *(part for item in args.compare for part in ("--set", item)),
                      "--output", str(folder / "compared"), "--run-dir", str(folder / "run")]
            print("$", " ".join(second), flush=True)
            subprocess.run(second, check=True)
            compared = json.loads((folder / "compared" / "kdedge.json").read_text())
            rows[-1]["compared"] = seed_row(seed, compared, args.recipe, overrides + args.compare)
    minutes = (time.perf_counter() - started) / 60
    command = " ".join(["python benchmarks/seeds.py", "--recipe", args.recipe, "--seeds", *map(str, args.seeds),
                        *(f"--set {item}" for item in args.overrides), *(f"--compare {item}" for item in args.compare),
                        *(["--name", args.name] if args.name else []), *(["--keep-run-dir"] if args.keep_run_dir else [])])
    summary = {"command": command, "minutes": minutes, "machine": fingerprint(), "rows": rows}
    (args.output_dir / f"{name}.json").write_text(json.dumps(summary, indent=2))
    text = markdown(summary)
    (args.output_dir / f"{name}.md").write_text(text)
    print(text)


def seed_row(seed: int, manifest: dict, recipe: str, overrides: list[str]) -> dict:
    metrics = manifest["metrics"]
    teacher, student = metrics["teacher"], metrics["student_onnx"]
    metric = "entity_f1" if "entity_f1" in teacher else "accuracy"
    row = {"seed": seed, "metric": metric, "teacher": teacher, "student": student, "variant": manifest["variant"],
           "compression": manifest["compression"], "student_params": manifest["student"]["params"],
           "kept": student[metric] / teacher[metric] if teacher[metric] else 0.0,
           "shape": manifest["training"]["shape"].split(";")[:2]}
    if metric == "entity_f1":
        gold = gold_entities(recipe, overrides)
        row["gold_entities"] = gold
        row["counts"] = {who: entity_counts(values, gold) for who, values in (("teacher", teacher), ("student", student))}
    return row


def gold_entities(recipe: str, overrides: list[str]) -> int:
    """How many entities the seed's test split holds (its split depends on data.seed)."""
    from seqeval.metrics.sequence_labeling import get_entities

    from kdedge.data.tasks import load_data
    from kdedge.recipe import load_recipe

    data = load_data(load_recipe(recipe).with_overrides(overrides).data)
    return sum(len(get_entities([data.labels[t] for t in tags])) for tags in data.test.tags)


def entity_counts(metrics: dict, gold: int) -> dict:
    """True positives and predicted entities back from precision and recall (seqeval's micro averages)."""
    hits = round(metrics["entity_recall"] * gold)
    predicted = round(hits / metrics["entity_precision"]) if metrics["entity_precision"] else 0
    return {"true_positives": hits, "predicted": predicted, "gold": gold}


def pooled_f1(counts: list[dict]) -> float:
    hits = sum(c["true_positives"] for c in counts)
    predicted, gold = sum(c["predicted"] for c in counts), sum(c["gold"] for c in counts)
    precision, recall = hits / max(predicted, 1), hits / max(gold, 1)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def markdown(summary: dict) -> str:
    rows = summary["rows"]
    metric = rows[0]["metric"]
    label = metric.replace("_", " ")
    machine = summary["machine"]
    lines = [
        f"command: `{summary['command']}` ({summary['minutes']:.0f} min)",
        machine_line(machine),
        "",
        f"| seed | teacher test {label} | student test {label} (shipped variant) | kept | compression |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(f"| {row['seed']} | {row['teacher'][metric]:.4f} | {row['student'][metric]:.4f} "
                     f"({row['variant']}) | {row['kept']:.1%} | {row['compression']:.1f}x |")
    lines.append(f"| mean ± sd | {spread([r['teacher'][metric] for r in rows])} | "
                 f"{spread([r['student'][metric] for r in rows])} | {spread([r['kept'] for r in rows], True)} | |")
    if metric == "entity_f1":
        teacher = pooled_f1([r["counts"]["teacher"] for r in rows])
        student = pooled_f1([r["counts"]["student"] for r in rows])
        entities = sum(r["gold_entities"] for r in rows)
        lines.append(f"| pooled ({entities:,} test entities) | {teacher:.4f} | {student:.4f} | "
                     f"{student / teacher if teacher else 0:.1%} | |")
    if all("compared" in row for row in rows):
        lines += compared_lines(summary["command"], rows, metric, label)
    return "\n".join(lines) + "\n"


def compared_lines(command: str, rows: list[dict], metric: str, label: str) -> list[str]:
    """The side-by-side table of `--compare`: each seed's two students on the same split and teacher."""
    change = command.split("--compare ", 1)[1].split(" --")[0]
    lines = ["", f"Side by side, same split and teacher per seed: the default student against `{change}`:", "",
             f"| seed | default: test {label} | kept | with `{change}` | kept | difference (points) |",
             "|---|---:|---:|---:|---:|---:|"]
    differences = []
    for row in rows:
        other = row["compared"]
        differences.append((row["student"][metric] - other["student"][metric]) * 100)
        lines.append(f"| {row['seed']} | {row['student'][metric]:.4f} | {row['kept']:.1%} | "
                     f"{other['student'][metric]:.4f} | {other['kept']:.1%} | {differences[-1]:+.2f} |")
    lines.append(f"| mean ± sd | {spread([r['student'][metric] for r in rows])} | "
                 f"{spread([r['kept'] for r in rows], True)} | {spread([r['compared']['student'][metric] for r in rows])} "
                 f"| {spread([r['compared']['kept'] for r in rows], True)} | {mean_sd(differences)[0]:+.2f} ± "
                 f"{mean_sd(differences)[1]:.2f} |")
    lines += ["", "Shapes:", ""]
    lines += [f"- seed {row['seed']}: default {'; '.join(row['shape'])}; with `{change}`: "
              f"{'; '.join(row['compared']['shape'])}" for row in rows]
    return lines


if __name__ == "__main__":
    main()
