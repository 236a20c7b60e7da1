"""Initialise a student from the teacher's own weights.

For the BiLSTM: the teacher's input embeddings of the kept tokens, reduced to the student's width by
PCA (the directions of largest variance), so the student starts from the teacher's lexical knowledge.
"""

from __future__ import annotations

import numpy as np
import torch

from kdedge.students.bilstm import BiLSTMClassifier
from kdedge.vocabulary import PAD_ROW, UNK_ROW, VocabularyTrim


def pca_embeddings(teacher_embeddings: np.ndarray, rows: np.ndarray, dim: int) -> np.ndarray:
    """Project `teacher_embeddings[rows]` onto its top-`dim` principal components, scaled to unit variance."""
    selected = teacher_embeddings[rows].astype(np.float64)
    centred = selected - selected.mean(axis=0, keepdims=True)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    dim_available = min(dim, components.shape[0])
    projected = centred @ components[:dim_available].T
    if dim_available < dim:  # fewer rows or teacher dims than the student's width: pad with small noise
        extra = np.random.default_rng(0).normal(0, 0.1, size=(len(rows), dim - dim_available))
        projected = np.concatenate([projected, extra], axis=1)
    return (projected / (projected.std() + 1e-8)).astype(np.float32)


def init_bilstm_embeddings(
    student: BiLSTMClassifier, teacher_embeddings: np.ndarray, trim: VocabularyTrim, unk_id: int | None
) -> None:
    """Rows 2.. from the kept tokens, row 1 from the teacher's unknown token, row 0 (padding) zero."""
    rows = np.concatenate([[unk_id if unk_id is not None else 0], trim.kept_ids])
    table = pca_embeddings(teacher_embeddings, rows, student.config.embedding_dim)
    with torch.no_grad():
        student.embeddings.weight[UNK_ROW:].copy_(torch.from_numpy(table))
        student.embeddings.weight[PAD_ROW].zero_()
