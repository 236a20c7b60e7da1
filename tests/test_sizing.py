import numpy as np
import pytest

from kdedge.errors import ConfigError
from kdedge.students.bilstm import BiLSTMClassifier, BiLSTMConfig
from kdedge.students.sizing import budget_for, solve_bilstm_shape
from kdedge.teacher.loading import count_params


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
    # the count the solver reports is what the module really has
    assert count_params(BiLSTMClassifier(BiLSTMConfig(shape.vocab_size, shape.embedding_dim, shape.hidden_size, 3,
                                                      30_522))) == shape.params
    assert f"{shape.params:,} parameters" in shape.reason


def test_bilstm_shape_worked_by_hand():
    # embeddings 16, LSTM 24 per direction, 3 labels: each direction 4·24·(16+24) + 8·24 = 4,032 weights,
    # classifier 2·24·3 + 3 = 147, so 8,211 before the vocabulary; (13,000 − 8,211) // 16 = 299 rows fit
    # (of 302: 300 tokens, padding, unknown): 8,211 + 299·16 = 12,995 parameters, the 297 commonest tokens
    coverage = zipf_coverage(300)
    shape = solve_bilstm_shape(13_000, coverage, 3, 30_522, embedding_dim=16, hidden_size=24)
    assert (shape.embedding_dim, shape.hidden_size, shape.vocab_size, shape.params) == (16, 24, 299, 12_995)
    assert shape.coverage == pytest.approx(coverage[297])


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

    from kdedge.students.sizing import solve_transformer_shape
    teacher = BertConfig()  # bert-base: 12 layers, 12 heads x 64, FFN 3072
    shape = solve_transformer_shape(3_600_000, zipf_coverage(20_000), teacher, 3, 128)
    assert abs(shape.params - 3_600_000) <= 360_000
    assert shape.num_layers <= 12 and shape.num_heads <= 12 and shape.head_dim <= 64
    assert shape.intermediate_size <= 3072 and shape.hidden_size >= 64


def test_transformer_shape_worked_by_hand():
    from transformers import BertConfig

    from kdedge.students.sizing import solve_transformer_shape

    # 2 layers of width 64 (2 heads x 32), FFN 128, 32 positions, 2 token types, 3 labels:
    # embeddings without the vocabulary (32 + 2)·64 + 2·64 (LayerNorm) = 2,304;
    # a layer 4·(64² + 64) + 2·64 + (64·128 + 128) + (128·64 + 64) + 2·64 = 33,472, twice = 66,944;
    # pooler 64² + 64 = 4,160; classifier 64·3 + 3 = 195: 73,603 before the vocabulary;
    # (92,000 − 73,603) // 64 = 287 rows: 73,603 + 287·64 = 91,971 parameters
    teacher = BertConfig(hidden_size=128, num_attention_heads=4, num_hidden_layers=4, intermediate_size=512)
    coverage = zipf_coverage(300)
    shape = solve_transformer_shape(92_000, coverage, teacher, 3, 32, num_layers=2, num_heads=2, hidden_size=64,
                                    intermediate_size=128)
    assert (shape.num_layers, shape.num_heads, shape.head_dim, shape.intermediate_size) == (2, 2, 32, 128)
    assert (shape.vocab_size, shape.params) == (287, 91_971)
    assert shape.coverage == pytest.approx(coverage[285])  # two rows are the special tokens


def test_transformer_impossible_target():
    from transformers import BertConfig

    from kdedge.students.sizing import solve_transformer_shape

    with pytest.raises(ConfigError) as error:
        solve_transformer_shape(1_000, zipf_coverage(20_000), BertConfig(), 3, 128, teacher_params=110_000_000)
    assert "reachable targets" in error.value.hint
