import numpy as np
import pytest

from kdedge.errors import ConfigError
from kdedge.sizing import budget_for, solve_bilstm_shape
from kdedge.students.bilstm import BiLSTMConfig


def zipf_coverage(distinct: int) -> np.ndarray:
    counts = 1.0 / np.arange(1, distinct + 1)
    return np.concatenate([[0.0], np.cumsum(counts) / counts.sum()])


def test_budget_from_target_or_cap():
    assert budget_for(30_000_000, 30.0, None) == 1_000_000
    assert budget_for(30_000_000, 30.0, 500_000) == 500_000
    assert budget_for(30_000_000, None, 700_000) == 700_000


@pytest.mark.parametrize("budget", [757_000, 250_000, 3_000_000])
def test_shape_lands_within_ten_percent(budget):
    shape = solve_bilstm_shape(budget, zipf_coverage(20_000), 3, 30_522)
    assert abs(shape.params - budget) <= 0.1 * budget
    assert shape.params == BiLSTMConfig(shape.vocab_size, shape.embedding_dim, shape.hidden_size, 3, 30_522).params
    assert "parameters" in shape.reason


def test_small_data_keeps_every_token_and_widens_the_lstm():
    shape = solve_bilstm_shape(50_000, zipf_coverage(300), 3, 30_522)
    assert shape.vocab_size == 302 and shape.coverage == pytest.approx(1.0)
    assert abs(shape.params - 50_000) <= 5_000


def test_explicit_dimensions_are_respected():
    shape = solve_bilstm_shape(757_000, zipf_coverage(20_000), 3, 30_522, embedding_dim=48, hidden_size=64)
    assert (shape.embedding_dim, shape.hidden_size) == (48, 64)


def test_impossible_target_names_the_reachable_range():
    with pytest.raises(ConfigError) as error:
        solve_bilstm_shape(2_000, zipf_coverage(20_000), 3, 30_522, teacher_params=22_700_000)
    assert "reachable targets" in error.value.hint and "x to" in error.value.hint
