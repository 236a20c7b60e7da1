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


def test_transformer_shape_is_a_sub_shape_within_ten_percent():
    from transformers import BertConfig

    from kdedge.sizing import solve_transformer_shape
    from kdedge.students.transformer import TransformerConfig

    teacher = BertConfig()  # bert-base: 12 layers, 12 heads x 64, FFN 3072
    shape = solve_transformer_shape(3_600_000, zipf_coverage(20_000), teacher, 3, 128)
    assert abs(shape.params - 3_600_000) <= 360_000
    assert shape.num_layers <= 12 and shape.num_heads <= 12 and shape.head_dim <= 64
    assert shape.intermediate_size <= 3072 and shape.hidden_size >= 64
    config = TransformerConfig(shape.vocab_size, shape.hidden_size, shape.num_layers, shape.num_heads,
                               shape.intermediate_size, 3, 128)
    assert config.params == shape.params


def test_transformer_impossible_target():
    from transformers import BertConfig

    from kdedge.sizing import solve_transformer_shape

    with pytest.raises(ConfigError) as error:
        solve_transformer_shape(1_000, zipf_coverage(20_000), BertConfig(), 3, 128, teacher_params=110_000_000)
    assert "reachable targets" in error.value.hint
