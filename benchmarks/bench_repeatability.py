"""Is `kdedge bench` repeatable? Run the same command twice and compare medians row by row.

    python benchmarks/bench_repeatability.py ARTIFACT [ARTIFACT...] [--against bert-base-random]

Prints each row's two p50 latencies and their ratio; on an idle machine every ratio should lie
within 10% of 1. Run it after `benchmarks/latency_bert_base.py` on the artifacts that script builds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts", nargs="+")
    parser.add_argument("--against", default="bert-base-random")
    parser.add_argument("--batch-sizes", default="1,32")
    parser.add_argument("--seq-lens", default="128")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/bench_repeatability.md"))
    args = parser.parse_args()
    command = ["kdedge", "bench", *args.artifacts, "--against", args.against, "--batch-sizes", args.batch_sizes,
               "--seq-lens", args.seq_lens, "--quiet"]
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for attempt in range(2):
            path = Path(scratch) / f"run{attempt}.json"
            subprocess.run(command + ["--json", str(path)], check=True, stdout=subprocess.DEVNULL)
            runs.append(json.loads(path.read_text())["results"])
    lines = [f"command, run twice: `{' '.join(command)}`", "",
             "| model | batch | seq | p50 first (ms) | p50 second (ms) | second / first |", "|---|---:|---:|---:|---:|---:|"]
    worst = 0.0
    for first, second in zip(*runs):
        ratio = second["p50_ms"] / first["p50_ms"]
        worst = max(worst, abs(ratio - 1))
        lines.append(f"| {first['model']} | {first['batch_size']} | {first['seq_len']} | {first['p50_ms']:.2f} | "
                     f"{second['p50_ms']:.2f} | {ratio:.3f} |")
    lines.append(f"\nlargest difference between the two runs: {worst:.1%}")
    print("\n".join(lines))
    args.output.write_text("\n".join(lines) + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
