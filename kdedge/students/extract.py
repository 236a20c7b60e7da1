"""Initialise a student from the teacher's own weights.

For the BiLSTM: the teacher's input embeddings of the kept tokens, reduced to the student's width by
PCA (the directions of largest variance), so the student starts from the teacher's lexical knowledge.

For the Transformer (Extract Then Distill): the student is a sub-network of the teacher: a subset of
its layers, and within them of its attention heads, head dimensions, FFN neurons and hidden
dimensions, chosen by importance (ETD-Impt) or uniformly/at random (ETD-Rand).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kdedge.progress import Reporter
from kdedge.students.bilstm import BiLSTMClassifier
from kdedge.students.importance import ImportanceScores
from kdedge.students.transformer import TransformerClassifier, TransformerConfig
from kdedge.students.vocabulary import PAD_ROW, UNK_ROW, VocabularyTrim


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
    rows = _teacher_rows(trim, unk_id)
    _fill_embeddings(student, pca_embeddings(teacher_embeddings, rows, student.config.embedding_dim))


def _teacher_rows(trim: VocabularyTrim, unk_id: int | None) -> np.ndarray:
    """The teacher ids behind a student's embedding rows 1.. : its unknown token, then the kept tokens."""
    return np.concatenate([[unk_id if unk_id is not None else 0], trim.kept_ids])


def _fill_embeddings(student, table: np.ndarray) -> None:
    """Rows 1.. of the student's embeddings from `table` (one row per `_teacher_rows` id), row 0 (padding) zero."""
    with torch.no_grad():
        student.embeddings.weight[UNK_ROW:].copy_(torch.from_numpy(table))
        student.embeddings.weight[PAD_ROW].zero_()


def token_pass_embeddings(teacher_model, token_ids: np.ndarray, cls_id: int | None, sep_id: int | None,
                          batch_size: int = 512, advance=None) -> np.ndarray:
    """Each token's vector as the teacher reads it alone: the mean of its last layer over `[CLS] token [SEP]`
    (Model2Vec's distillation, here from the fine-tuned teacher, so the vectors already lean towards the
    task), [len(token_ids), teacher width]. `advance(n)` is told of each batch's n tokens."""
    encoder = getattr(teacher_model, "base_model", teacher_model)
    frame = [[cls_id]] * (cls_id is not None) + [None] + [[sep_id]] * (sep_id is not None)
    vectors = []
    was_training = encoder.training
    encoder.eval()
    with torch.no_grad():
        for start in range(0, len(token_ids), batch_size):
            tokens = torch.as_tensor(np.asarray(token_ids[start : start + batch_size]), dtype=torch.long)[:, None]
            columns = [tokens if part is None else torch.full_like(tokens, part[0]) for part in frame]
            input_ids = torch.cat(columns, dim=1)
            output = encoder(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
            vectors.append(output.last_hidden_state.float().mean(dim=1).numpy())
            if advance is not None:
                advance(len(tokens))
    encoder.train(was_training)
    return np.concatenate(vectors) if vectors else np.zeros((0, encoder.config.hidden_size), dtype=np.float32)


def init_from_token_pass(student, teacher, trim: VocabularyTrim, unk_id: int | None, reporter=None) -> None:
    """A bag's (or BiLSTM's) embedding rows from a PCA of the teacher's output for each kept token alone
    (`token_pass_embeddings`): row 1 from the unknown token, row 0 (padding) zero."""
    rows = _teacher_rows(trim, unk_id)
    tokenizer = teacher.hf_tokenizer
    reporter = reporter or Reporter(quiet=True)
    with reporter.progress("teacher pass over the kept tokens", len(rows)) as task:
        outputs = token_pass_embeddings(teacher.model, rows, getattr(tokenizer, "cls_token_id", None),
                                        getattr(tokenizer, "sep_token_id", None), advance=task.advance)
    _fill_embeddings(student, pca_embeddings(outputs, np.arange(len(rows)), student.config.embedding_dim))


# --- Transformer students: Extract Then Distill (ETD-Rand, ETD-Impt) ---------------------------------

EXTRACTION_METHODS = ("etd-impt", "etd-rand")


@dataclass(frozen=True)
class TransformerSelection:
    """Which teacher parts a student keeps; indices are the teacher's, in the teacher's order."""

    layers: list[int]
    heads: list[list[int]]  # per kept layer
    query_key_dims: list[list[int]]  # per kept layer: attention dims of the kept heads (query and key)
    value_dims: list[list[int]]  # per kept layer: value dims of the kept heads
    ffn: list[list[int]]  # per kept layer
    hidden: list[int]  # residual-stream dims, shared by every layer, the embeddings and the head


def select_structure(
    teacher_config,
    num_layers: int,
    num_heads: int,
    head_dim: int,
    intermediate_size: int,
    hidden_size: int,
    method: str,
    importance: ImportanceScores | None = None,
    seed: int = 0,
) -> TransformerSelection:
    """ETD-Impt keeps the highest-importance units; ETD-Rand keeps layers uniformly and the rest at random."""
    teacher_layers, teacher_heads = teacher_config.num_hidden_layers, teacher_config.num_attention_heads
    teacher_head_dim = teacher_config.hidden_size // teacher_heads
    rng = np.random.default_rng(seed)
    if method == "etd-impt":
        if importance is None:
            raise ValueError("etd-impt needs importance scores")

        def top(scores: np.ndarray, k: int) -> list[int]:
            return sorted(np.argsort(-scores, kind="stable")[:k].tolist())

        layers = top(importance.layers, num_layers)
        hidden = top(importance.hidden, hidden_size)
    elif method == "etd-rand":

        def top(scores: np.ndarray, k: int) -> list[int]:
            return sorted(rng.choice(len(scores), size=k, replace=False).tolist())

        # uniform depth: the last layer of each of num_layers equal blocks (as DistilBERT keeps every other)
        layers = sorted({round(teacher_layers * (k + 1) / num_layers) - 1 for k in range(num_layers)})
        hidden = top(np.zeros(teacher_config.hidden_size), hidden_size)
    else:
        raise ValueError(f"unknown extraction method {method!r}; known: {', '.join(EXTRACTION_METHODS)}")

    heads, query_key, value, ffn = [], [], [], []
    for layer in layers:
        head_scores = importance.heads[layer] if importance is not None else np.zeros(teacher_heads)
        kept_heads = top(head_scores, num_heads)
        qk_scores = importance.query_key[layer] if importance is not None else np.zeros(teacher_config.hidden_size)
        v_scores = importance.value[layer] if importance is not None else np.zeros(teacher_config.hidden_size)
        qk_dims, v_dims = [], []
        for head in kept_heads:
            start = head * teacher_head_dim
            qk_dims += [start + d for d in top(qk_scores[start : start + teacher_head_dim], head_dim)]
            v_dims += [start + d for d in top(v_scores[start : start + teacher_head_dim], head_dim)]
        ffn_scores = importance.ffn[layer] if importance is not None else np.zeros(teacher_config.intermediate_size)
        heads.append(kept_heads)
        query_key.append(qk_dims)
        value.append(v_dims)
        ffn.append(top(ffn_scores, intermediate_size))
    return TransformerSelection(layers, heads, query_key, value, ffn, hidden)


@torch.no_grad()
def extract_transformer(
    teacher_model, config: TransformerConfig, selection: TransformerSelection, vocab_rows: np.ndarray
) -> TransformerClassifier:
    """Copy the selected teacher weights into a student of `config` (a standard Hugging Face BERT).

    `vocab_rows[i]` is the teacher id of student token i. When a head keeps fewer dimensions, queries
    are rescaled by sqrt(d_student / d_teacher) so that attention scores keep the teacher's scale.
    """
    student = TransformerClassifier(config)
    source, target = teacher_model.bert, student.model.bert
    hid = torch.tensor(selection.hidden)
    rows = torch.from_numpy(np.asarray(vocab_rows, dtype=np.int64))

    def copy(destination: torch.nn.Module, origin: torch.nn.Module, out_index=None, in_index=None, scale=1.0):
        weight = origin.weight
        if out_index is not None:
            weight = weight[out_index]
        if in_index is not None and weight.dim() == 2:
            weight = weight[:, in_index]
        destination.weight.copy_(weight * scale)
        if getattr(origin, "bias", None) is not None:
            bias = origin.bias if out_index is None else origin.bias[out_index]
            destination.bias.copy_(bias * scale)

    embeddings, teacher_embeddings = target.embeddings, source.embeddings
    embeddings.word_embeddings.weight.copy_(teacher_embeddings.word_embeddings.weight[rows][:, hid])
    embeddings.position_embeddings.weight.copy_(
        teacher_embeddings.position_embeddings.weight[: config.max_position][:, hid])
    embeddings.token_type_embeddings.weight.copy_(
        teacher_embeddings.token_type_embeddings.weight[: config.type_vocab_size][:, hid])
    copy(embeddings.LayerNorm, teacher_embeddings.LayerNorm, hid)

    teacher_head_dim = teacher_model.config.hidden_size // teacher_model.config.num_attention_heads
    scale = (config.head_dim / teacher_head_dim) ** 0.5
    for student_layer, teacher_index in zip(target.encoder.layer, selection.layers):
        position = selection.layers.index(teacher_index)
        teacher_layer = source.encoder.layer[teacher_index]
        qk = torch.tensor(selection.query_key_dims[position])
        v = torch.tensor(selection.value_dims[position])
        ffn = torch.tensor(selection.ffn[position])
        attention, teacher_attention = student_layer.attention, teacher_layer.attention
        copy(attention.self.query, teacher_attention.self.query, qk, hid, scale)
        copy(attention.self.key, teacher_attention.self.key, qk, hid)
        copy(attention.self.value, teacher_attention.self.value, v, hid)
        copy(attention.output.dense, teacher_attention.output.dense, hid, v)
        copy(attention.output.LayerNorm, teacher_attention.output.LayerNorm, hid)
        copy(student_layer.intermediate.dense, teacher_layer.intermediate.dense, ffn, hid)
        copy(student_layer.output.dense, teacher_layer.output.dense, hid, ffn)
        copy(student_layer.output.LayerNorm, teacher_layer.output.LayerNorm, hid)
    if target.pooler is not None and source.pooler is not None:
        copy(target.pooler.dense, source.pooler.dense, hid, hid)
    copy(student.model.classifier, teacher_model.classifier, None, hid)
    return student.eval()

