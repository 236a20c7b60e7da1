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
    stem = args.output.with_suffix("")
    for attempt in range(2):
        path = Path(f"{stem}.run{attempt + 1}.json")
        subprocess.run(command + ["--json", str(path)], check=True, stdout=subprocess.DEVNULL)
        runs.append(json.loads(path.read_text())["results"])
    lines = [f"command, run twice: `{' '.join(command)}` (each run's JSON: `{stem.name}.run1.json`, `.run2.json`)", "",
             "| model | batch | seq | p50 first (ms) | p50 second (ms) | second / first "
             "| speed-up vs teacher torch fp32, first | second | second / first |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    worst, worst_speedup = 0.0, 0.0
    for first, second in zip(*runs, strict=True):
        ratio = second["p50_ms"] / first["p50_ms"]
        worst = max(worst, abs(ratio - 1))
        speedups = (first.get("speedup_vs_teacher_torch_fp32"), second.get("speedup_vs_teacher_torch_fp32"))
        cells = ["—", "—", "—"]
        if None not in speedups and first["model"] != "teacher-torch-fp32":
            speedup_ratio = speedups[1] / speedups[0]
            worst_speedup = max(worst_speedup, abs(speedup_ratio - 1))
            cells = [f"{speedups[0]:.1f}x", f"{speedups[1]:.1f}x", f"{speedup_ratio:.3f}"]
        lines.append(f"| {first['model']} | {first['batch_size']} | {first['seq_len']} | {first['p50_ms']:.2f} | "
                     f"{second['p50_ms']:.2f} | {ratio:.3f} | {' | '.join(cells)} |")
    lines.append(f"\nlargest difference between the two runs: {worst:.1%} in a median, "
                 f"{worst_speedup:.1%} in a speed-up against the teacher")
    print("\n".join(lines))
    args.output.write_text("\n".join(lines) + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
