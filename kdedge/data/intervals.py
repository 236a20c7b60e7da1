"""How sure a test figure is, and whether a student keeps the bar it is held to.

An accuracy measured on n test rows is a binomial proportion; its 95% interval here is Wilson's score
interval (it stays inside [0, 1] and is honest for small n and for accuracies near 0 or 1, where the
normal approximation is not). The quality check compares the shipped student with its teacher on the
task's main test metric: below `bar` x the teacher it warns; when the student's accuracy interval
contains `bar` x the teacher's accuracy, the split is too small to tell and it warns too. Before either,
it checks the teacher itself: a teacher whose accuracy interval reaches down to what always answering
the most common test label scores has learned too little for any share of it to mean much, and that is
warned first (a student "keeping 100%" of such a teacher keeps nothing).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson_interval(share: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The 95% (by default) Wilson score interval of a proportion `share` observed over `n` trials."""
    if n <= 0:
        return 0.0, 1.0
    denominator = 1 + z * z / n
    centre = (share + z * z / (2 * n)) / denominator
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_intervals(metrics: dict[str, dict[str, float]], rows: int | dict[str, int]
                       ) -> dict[str, dict[str, list[float]]]:
    """Each model's accuracy with its 95% interval, as [low, high]: `accuracy` over `rows` test texts, or
    in a multi-task run each `task.accuracy` over `rows[task]`."""
    intervals: dict[str, dict[str, list[float]]] = {}
    for model, values in metrics.items():
        for key, value in values.items():
            task, _, name = key.rpartition(".")
            if name != "accuracy":
                continue
            n = rows[task] if isinstance(rows, dict) else rows
            intervals.setdefault(model, {})[key] = [round(bound, 6) for bound in wilson_interval(value, n)]
    return intervals


@dataclass(frozen=True)
class Quality:
    metric: str
    bar: float  # the share of the teacher's metric the student must keep (export.quality_bar)
    kept: float  # the share it keeps on test
    verdict: str  # "ok", "weak-teacher" (no better than the majority label), "below" (kept < bar) or "unclear"
    warning: str  # empty when ok

    def to_dict(self) -> dict:
        return asdict(self)


def majority_baseline(labels, names: tuple[str, ...]) -> tuple[str, float]:
    """The most common label of a split's label ids and its share: what always answering it scores."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(names))
    best = int(counts.argmax())
    return names[best], float(counts[best] / max(1, counts.sum()))


def quality_check(metrics: dict, intervals: dict, metric: str, bar: float, test_rows: int,
                  transfer: int, majority: tuple[str, float] | None = None, train_rows: int | None = None) -> Quality:
    """The shipped student (`student_onnx`) against the teacher on the task's main metric (`metric`, as
    keyed in `metrics`: `accuracy`, `entity_f1`, or `task.accuracy` in a multi-task run), with what to
    try when it falls short; "unclear" needs the metric's interval (accuracies have one). With
    `majority` (the test split's most common label and its share) a teacher no better than it is
    "weak-teacher", whatever the student keeps."""
    teacher, student = metrics["teacher"][metric], metrics["student_onnx"][metric]
    kept = student / teacher if teacher else 0.0
    name = metric.rpartition(".")[2].replace("_", " ")
    teacher_bounds = intervals.get("teacher", {}).get(metric)
    if majority is not None and teacher_bounds and teacher_bounds[0] <= majority[1]:
        trained = f" on {train_rows:,} train rows" if train_rows is not None else ""
        return Quality(metric, bar, kept, "weak-teacher", (
            f"the teacher learned too little{trained} to be worth compressing: its test {name} {teacher:.4f} "
            f"(95% interval {teacher_bounds[0]:.4f}-{teacher_bounds[1]:.4f}) is no better than always answering "
            f"{majority[0]!r} ({majority[1]:.4f}), so the student's {kept:.1%} of it means little; fine-tune the "
            "teacher longer (teacher.epochs, teacher.learning_rate), label more rows, or bring a teacher already "
            "trained for the task"))
    if kept < bar:
        return Quality(metric, bar, kept, "below", (
            f"the student keeps {kept:.1%} of the teacher's test {name}, below the bar of {bar:.0%} "
            f"(export.quality_bar); with {transfer:,} transfer texts the likely causes are too little unlabelled "
            "text to distil from or too small a student: add unlabelled text (data.transfer), try a larger "
            "student (a smaller --target), and check the test split is large enough to trust"))
    bounds = intervals.get("student_onnx", {}).get(metric)
    if bounds and bounds[0] <= bar * teacher <= bounds[1]:
        return Quality(metric, bar, kept, "unclear", (
            f"the test split ({test_rows:,} rows) is too small to tell whether the student keeps {bar:.0%} of the "
            f"teacher: its test {name} {student:.4f} has a 95% interval of {bounds[0]:.4f}-{bounds[1]:.4f}, which "
            f"contains {bar:.0%} of the teacher's ({bar * teacher:.4f}); use a larger test split (data.test_size)"))
    return Quality(metric, bar, kept, "ok", "")


def multitask_quality(metrics: dict, intervals: dict, bar: float, tasks: dict[str, tuple[str, int, int]],
                      baselines: dict[str, tuple[tuple[str, float], int]] | None = None) -> Quality:
    """`quality_check` for each task of a multi-task run (`tasks`: name -> (main metric, test rows,
    transfer texts); `baselines`: name -> (majority label and share, train rows) for the classification
    tasks); the first task that falls short, named in its warning, or else the closest to it."""
    results = []
    for name, (metric, rows, transfer) in tasks.items():
        majority, train_rows = (baselines or {}).get(name, (None, None))
        quality = quality_check(metrics, intervals, f"{name}.{metric}", bar, rows, transfer, majority, train_rows)
        results.append(Quality(quality.metric, bar, quality.kept, quality.verdict,
                               f"task {name}: {quality.warning}" if quality.warning else ""))
    return next((q for q in results if q.verdict != "ok"), min(results, key=lambda q: q.kept))
