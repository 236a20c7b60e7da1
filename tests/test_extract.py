import numpy as np
import torch

from kdedge.extract import init_bilstm_embeddings, pca_embeddings
from kdedge.students.bilstm import BiLSTMClassifier, BiLSTMConfig
from kdedge.vocabulary import trim_vocabulary


def test_pca_keeps_the_main_directions():
    rng = np.random.default_rng(0)
    # rows vary mostly along two directions of a 16-d space
    basis = rng.normal(size=(2, 16))
    table = rng.normal(size=(200, 2)) * [5.0, 3.0] @ basis + rng.normal(scale=0.01, size=(200, 16))
    reduced = pca_embeddings(table, np.arange(200), 2)
    assert reduced.shape == (200, 2)
    assert np.isclose(reduced.std(), 1.0, atol=1e-3)
    # distances between rows survive the projection (up to the global scale)
    original = np.linalg.norm(table[:20, None] - table[None, :20], axis=-1)
    projected = np.linalg.norm(reduced[:20, None] - reduced[None, :20], axis=-1)
    assert np.corrcoef(original.ravel(), projected.ravel())[0, 1] > 0.999


def test_student_rows_come_from_the_kept_teacher_tokens():
    rng = np.random.default_rng(1)
    teacher_table = rng.normal(size=(30, 12)).astype(np.float32)
    counts = np.arange(30)[::-1].copy()
    trim = trim_vocabulary(counts, size=10, pad_id=0, unk_id=1)
    student = BiLSTMClassifier(BiLSTMConfig(trim.size, 4, 6, 2, 30), torch.from_numpy(trim.token_map))
    init_bilstm_embeddings(student, teacher_table, trim, unk_id=1)
    weights = student.embeddings.weight.detach().numpy()
    assert np.all(weights[0] == 0)
    expected = pca_embeddings(teacher_table, np.concatenate([[1], trim.kept_ids]), 4)
    assert np.allclose(weights[1:], expected)
