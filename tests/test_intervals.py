"""Honest output: every reported test accuracy carries its 95% interval, and a student that falls short
of the bar, or a test split too small to tell, ends the run with a warning (an exit status with --strict)."""

import pytest

from kdedge.data.intervals import accuracy_intervals, quality_check, wilson_interval


@pytest.mark.parametrize("share, n, low, high", [
    (0.75, 100, 0.656955, 0.824548),  # worked by hand: centre (p + z²/2n) / (1 + z²/n), half-width z·√(p(1-p)/n + z²/4n²) / (1 + z²/n)
    (0.764, 2000, 0.744895, 0.782092),
    (1.0, 50, 0.928652, 1.0),  # never above 1, and not a zero width at 100%
])
def test_the_wilson_interval_against_hand_computed_values(share, n, low, high):
    assert wilson_interval(share, n) == pytest.approx((low, high), abs=1e-6)


def test_an_empty_split_says_nothing_is_known():
    assert wilson_interval(0.0, 0) == (0.0, 1.0)


def metrics(teacher: float, student: float) -> dict:
    return {"teacher": {"accuracy": teacher}, "student": {"accuracy": student}, "student_onnx": {"accuracy": student}}


def test_below_the_bar_names_the_cause_and_the_fixes():
    values = metrics(0.7273, 0.6667)
    quality = quality_check(values, accuracy_intervals(values, 297), "accuracy", 0.95, 297, 21_393)
    assert quality.verdict == "below" and quality.kept == pytest.approx(0.6667 / 0.7273)
    assert "keeps 91.7% of the teacher's test accuracy, below the bar of 95%" in quality.warning
    assert "21,393 transfer texts" in quality.warning and "data.transfer" in quality.warning


def test_a_small_split_that_cannot_tell_says_so():
    values = metrics(0.80, 0.77)  # kept 96.25%, but 0.76 (95% of 0.80) is inside the interval over 297 rows
    quality = quality_check(values, accuracy_intervals(values, 297), "accuracy", 0.95, 297, 30_000)
    assert quality.verdict == "unclear" and "test split (297 rows) is too small to tell" in quality.warning
    assert "data.test_size" in quality.warning
    large = quality_check(values, accuracy_intervals(values, 20_000), "accuracy", 0.95, 20_000, 30_000)
    assert large.verdict == "ok" and large.warning == ""


def test_ner_is_judged_on_entity_f1_without_an_interval():
    values = {"teacher": {"entity_f1": 0.40}, "student_onnx": {"entity_f1": 0.39}}
    assert quality_check(values, {}, "entity_f1", 0.95, 100, 1000).verdict == "ok"
    assert quality_check(values, {}, "entity_f1", 0.99, 100, 1000).verdict == "below"


def test_multi_task_intervals_use_each_tasks_test_rows_and_the_first_short_task_is_named():
    from kdedge.data.intervals import multitask_quality

    values = {"teacher": {"sentiment.accuracy": 0.76, "ner.entity_f1": 0.40, "mean_score": 0.58},
              "student_onnx": {"sentiment.accuracy": 0.75, "ner.entity_f1": 0.30, "mean_score": 0.525}}
    intervals = accuracy_intervals(values, {"sentiment": 2000, "ner": 300})
    assert intervals["student_onnx"] == {"sentiment.accuracy": pytest.approx(wilson_interval(0.75, 2000), abs=1e-6)}
    quality = multitask_quality(values, intervals, 0.95, {"sentiment": ("accuracy", 2000, 34_000),
                                                          "ner": ("entity_f1", 300, 20_000)})
    assert quality.metric == "ner.entity_f1" and quality.verdict == "below"
    assert quality.warning.startswith("task ner: the student keeps 75.0% of the teacher's test entity f1")


def test_a_teacher_no_better_than_the_majority_label_is_warned_first_whatever_the_student_keeps():
    from kdedge.data.intervals import majority_baseline

    assert majority_baseline([0, 1, 1, 0, 1], ("fresh", "rotten")) == ("rotten", 0.6)
    values = metrics(0.58, 0.58)  # 100% kept of a teacher that scores what always answering "fresh" scores
    quality = quality_check(values, accuracy_intervals(values, 100), "accuracy", 0.95, 100, 8_000,
                            ("fresh", 0.58), 800)
    assert quality.verdict == "weak-teacher" and quality.kept == pytest.approx(1.0)
    assert "learned too little on 800 train rows" in quality.warning
    assert "no better than always answering 'fresh' (0.5800)" in quality.warning and "teacher.epochs" in quality.warning
    # the interval decides: 0.66 over 100 rows reaches down to 0.5627, not above a majority share of 0.58 ...
    values = metrics(0.66, 0.65)
    assert quality_check(values, accuracy_intervals(values, 100), "accuracy", 0.95, 100, 8_000,
                         ("fresh", 0.58), 800).verdict == "weak-teacher"
    # ... while over 2,000 rows it is clear of it (0.6390-0.6804), and the student is judged as before
    assert quality_check(values, accuracy_intervals(values, 2_000), "accuracy", 0.95, 2_000, 8_000,
                         ("fresh", 0.58), 800).verdict == "ok"


def test_a_multi_task_run_checks_each_classification_tasks_teacher_against_its_own_majority_label():
    from kdedge.data.intervals import multitask_quality

    values = {"teacher": {"sentiment.accuracy": 0.40, "ner.entity_f1": 0.40},
              "student_onnx": {"sentiment.accuracy": 0.40, "ner.entity_f1": 0.40}}
    intervals = accuracy_intervals(values, {"sentiment": 300, "ner": 300})
    quality = multitask_quality(values, intervals, 0.95, {"sentiment": ("accuracy", 300, 9_000),
                                                          "ner": ("entity_f1", 300, 9_000)},
                                {"sentiment": (("negative", 0.43), 2_400)})
    assert quality.verdict == "weak-teacher" and quality.warning.startswith("task sentiment: the teacher learned")
