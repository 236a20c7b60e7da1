"""Early stopping: the best evaluation, the tie-break, patience, and the checkpoint a stage ends on."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kdedge.distill.early_stopping import EarlyStopping


def run(stopping: EarlyStopping, evaluations: list[tuple[float, float]]) -> list[int]:
    """Feed (dev_score, dev_loss) evaluations at steps 1, 2, ... until it stops; the steps it saw."""
    stopping.start(lambda: "start")
    seen = []
    for step, (score, loss) in enumerate(evaluations, start=1):
        seen.append(step)
        stopping.update(step, score, loss, lambda step=step: f"state {step}")
        if stopping.should_stop:
            break
    return seen


def test_the_highest_dev_score_wins_and_its_state_is_kept():
    stopping = EarlyStopping(patience=5)
    run(stopping, [(0.5, 1.0), (0.7, 0.9), (0.6, 0.5), (0.69, 0.1)])
    assert (stopping.best_step, stopping.best_score, stopping.best_state) == (2, 0.7, "state 2")


def test_a_tied_score_goes_to_the_lower_dev_loss():
    stopping = EarlyStopping(patience=5)
    run(stopping, [(0.0, 2.0), (0.0, 1.5), (0.0, 1.7)])
    assert stopping.best_step == 2 and stopping.best_state == "state 2"


def test_an_exact_tie_keeps_the_earlier_checkpoint_and_counts_as_no_gain():
    stopping = EarlyStopping(patience=5)
    run(stopping, [(0.8, 1.0), (0.8, 1.0)])
    assert stopping.best_step == 1 and stopping.evaluations_without_gain == 1


def test_a_representation_stage_watches_the_dev_loss_alone():
    stopping = EarlyStopping(patience=5, monitor="dev_loss")
    run(stopping, [(0.9, 3.0), (0.1, 2.0), (0.95, 2.5)])
    assert stopping.best_step == 2 and stopping.best_score == 0.1 and stopping.best_state == "state 2"


def test_patience_counts_evaluations_without_gain_in_a_row():
    stopping = EarlyStopping(patience=2)
    # 2 beats 1; 3 does not (1 without gain); 4 beats 2 (reset); 5 and 6 do not: stop at 6
    seen = run(stopping, [(0.1, 1), (0.2, 1), (0.15, 1), (0.3, 1), (0.2, 1), (0.25, 1), (0.9, 1)])
    assert seen == [1, 2, 3, 4, 5, 6] and stopping.should_stop
    assert stopping.best_step == 4 and stopping.best_state == "state 4"


def test_patience_one_stops_at_the_first_evaluation_without_gain():
    stopping = EarlyStopping(patience=1)
    assert run(stopping, [(0.5, 1), (0.6, 1), (0.6, 1), (0.9, 1)]) == [1, 2, 3]
    assert stopping.evaluations_without_gain == 1


def test_without_evaluations_the_stage_ends_where_it_started():
    stopping = EarlyStopping(patience=3)
    run(stopping, [])
    assert stopping.best_state == "start" and stopping.best_step == 0 and not stopping.should_stop


def test_the_first_evaluation_always_becomes_the_best():
    stopping = EarlyStopping(patience=3)
    run(stopping, [(0.0, 1e9)])
    assert stopping.best_step == 1 and stopping.best_state == "state 1" and stopping.evaluations_without_gain == 0


def test_update_says_whether_the_evaluation_is_the_new_best():
    stopping = EarlyStopping(patience=5)
    answers = [stopping.update(step, score, 1.0, lambda: None) for step, score in enumerate([0.2, 0.1, 0.3], 1)]
    assert answers == [True, False, True]


def test_snapshots_are_taken_only_at_a_new_best():
    stopping = EarlyStopping(patience=10)
    taken = []
    for step, score in enumerate([0.1, 0.3, 0.2, 0.3, 0.4], start=1):
        stopping.update(step, score, 1.0, lambda step=step: taken.append(step) or step)
    assert taken == [1, 2, 5]


@given(st.lists(st.tuples(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), st.sampled_from([0.5, 1.0, 2.0])),
                min_size=1, max_size=30), st.integers(1, 4), st.sampled_from(["dev_score", "dev_loss"]))
def test_the_kept_checkpoint_is_the_best_seen_before_stopping(evaluations, patience, monitor):
    stopping = EarlyStopping(patience=patience, monitor=monitor)
    seen = run(stopping, evaluations)
    key = (lambda e: (e[0], -e[1])) if monitor == "dev_score" else (lambda e: (-e[1],))
    considered = evaluations[: len(seen)]
    best = max(range(len(considered)), key=lambda i: (key(considered[i]), -i))  # the first of the best
    assert stopping.best_step == best + 1 and stopping.best_state == f"state {best + 1}"
    streak = 0
    for i in range(1, len(considered)):  # it stopped exactly when `patience` evaluations in a row did not gain
        streak = 0 if key(considered[i]) > max(key(e) for e in considered[:i]) else streak + 1
    assert stopping.should_stop == (streak >= patience and len(considered) > 1)
    if len(seen) < len(evaluations):
        assert stopping.should_stop


def test_patience_must_be_positive_in_the_recipe():
    from kdedge.errors import ConfigError
    from kdedge.recipe import Recipe

    with pytest.raises(ConfigError, match="distill.patience"):
        Recipe().with_overrides(["distill.patience=0"])
