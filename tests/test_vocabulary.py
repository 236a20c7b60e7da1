import numpy as np

from kdedge.students.vocabulary import PAD_ROW, UNK_ROW, coverage_curve, token_counts, trim_vocabulary


def test_counts_and_trim_keep_the_most_frequent_tokens():
    counts = token_counts([[5, 5, 5, 7, 0], [7, 9, 5, 1]], teacher_vocab_size=12)
    assert counts[5] == 4 and counts[7] == 2 and counts[9] == 1
    trim = trim_vocabulary(counts, size=4, pad_id=0, unk_id=1)
    assert list(trim.kept_ids) == [5, 7]
    assert trim.token_map[0] == PAD_ROW
    assert trim.token_map[5] == 2 and trim.token_map[7] == 3
    assert trim.token_map[9] == UNK_ROW and trim.token_map[11] == UNK_ROW
    assert trim.size == 4
    assert np.isclose(trim.coverage, 6 / 7)


def test_coverage_curve_ignores_padding():
    counts = np.array([100, 0, 3, 1])
    curve = coverage_curve(counts, exclude=(0,))
    assert np.allclose(curve, [0, 0.75, 1.0])
