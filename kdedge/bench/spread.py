"""Mean and spread over seeds, as the benchmark tables print them."""

from __future__ import annotations

import statistics
from collections.abc import Iterable


def mean_sd(values: Iterable[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (0 for a single value)."""
    values = list(values)
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def spread(values: Iterable[float], percent: bool = False) -> str:
    """`0.7548 ± 0.0014`, or `98.9% ± 0.2%` with `percent`."""
    mean, deviation = mean_sd(values)
    return f"{mean:.1%} ± {deviation:.1%}" if percent else f"{mean:.4f} ± {deviation:.4f}"
