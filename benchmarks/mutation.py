"""Mutation score of the modules where a silent error would corrupt results (docs: development.md).

Runs mutmut twice, as configured in the two pyproject files: from the repository root over kdedge's
losses, sizing, metrics, variant gating and early stopping, and from runtime/ over the runtime's BIO decoding and
encoder (mutmut names modules after their paths, so each package is mutated from its own root). Then
prints one row per module: mutants, killed, survived, and the score. Torch runs single-threaded:
a forked test process that inherits an OpenMP pool can hang, which mutmut would count as a timeout.

    python benchmarks/mutation.py            # about 5 minutes on 2 cores
    python benchmarks/mutation.py --report   # only the table, from the last run's results
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLACES = [ROOT, ROOT / "runtime"]  # where each package's [tool.mutmut] lives
MUTMUT = str(Path(sys.executable).with_name("mutmut"))
ENVIRONMENT = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run(place: Path) -> None:
    subprocess.run([MUTMUT, "run", "--max-children", str(os.cpu_count() or 1)], cwd=place, env=ENVIRONMENT,
                   check=True, stdout=subprocess.DEVNULL)


def module_of(mutant: str) -> str:
    """`kdedge.distill.losses.attention.xǁAttentionLossǁforward__mutmut_3` → `kdedge.distill.losses.attention`."""
    return re.split(r"\.x[_ǁ]", mutant, maxsplit=1)[0]


def results(place: Path) -> dict[str, Counter]:
    listing = subprocess.run([MUTMUT, "results", "--all", "true"], cwd=place, env=ENVIRONMENT, check=True,
                             capture_output=True, text=True).stdout
    by_module: dict[str, Counter] = defaultdict(Counter)
    for line in listing.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            by_module[module_of(name)][status] += 1
    return by_module


def table(by_module: dict[str, Counter]) -> str:
    lines = ["| module | mutants | killed | survived | other | score |", "|---|---:|---:|---:|---:|---:|"]
    for module in sorted(by_module):
        counts = by_module[module]
        total, killed, survived = sum(counts.values()), counts["killed"], counts["survived"]
        other = total - killed - survived  # no tests, timeout, suspicious
        lines.append(f"| `{module}` | {total} | {killed} | {survived} | {other} | {killed / total:.0%} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="print the last run's table without running mutmut")
    args = parser.parse_args()
    by_module: dict[str, Counter] = {}
    for place in PLACES:
        if not args.report:
            run(place)
        by_module.update(results(place))
    print(table(by_module))


if __name__ == "__main__":
    main()
