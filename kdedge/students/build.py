"""Build an untrained student of the recipe's kind and size, initialised from the teacher.

Returns the student together with the tokenizer it reads: the teacher's own for the BiLSTM (its
lookup table maps teacher ids to its rows), a trimmed copy for the Transformer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from tokenizers import Tokenizer

from kdedge.data.readers import TaskData
from kdedge.data.tasks import SEQUENCE
from kdedge.errors import ConfigError
from kdedge.progress import Reporter
from kdedge.students.bag import BagClassifier, BagConfig
from kdedge.students.bilstm import BiLSTMClassifier, BiLSTMConfig
from kdedge.students.config import StudentConfig, parse_latency, parse_target
from kdedge.students.extract import extract_transformer, init_bilstm_embeddings, init_from_token_pass, select_structure
from kdedge.students.importance import importance_scores
from kdedge.students.reconstruct import reconstruct
from kdedge.students.sizing import LatencyOf, budget_for, solve_bag_shape, solve_bilstm_shape, solve_transformer_shape
from kdedge.students.tokenizer_trim import special_ids, trim_tokenizer
from kdedge.students.transformer import SUPPORTED_MODEL_TYPES, TransformerClassifier, TransformerConfig
from kdedge.students.vocabulary import coverage_curve, token_counts, trim_vocabulary
from kdedge.teacher.loading import Teacher
from kdedge_runtime.encoding import TextEncoder


@dataclass
class BuiltStudent:
    model: torch.nn.Module
    tokenizer: Tokenizer
    pad_token_id: int
    shape: str  # the chosen shape and why, for people
    teacher_ids: np.ndarray | None = None  # teacher id of each student token id, when the vocabulary was trimmed
    reconstructed: bool = False  # extracted, then re-fitted layer by layer (kdedge.students.reconstruct)


def build_student(
    teacher: Teacher, encoder: TextEncoder, data: TaskData, spec: StudentConfig, reporter: Reporter,
    task: str = SEQUENCE, plan: ShapePlan | None = None,
) -> BuiltStudent:
    """Size, trim and initialise a student for `spec`. `plan`: the shape already solved for this teacher,
    data and spec (a run solves it before fine-tuning the teacher); solved here when absent or for another spec."""
    if plan is None or plan.spec != spec:
        plan = plan_shape(teacher, encoder, data, spec, task=task)
    torch.manual_seed(spec.seed)
    if spec.kind == "bilstm":
        return _bilstm(teacher, plan, len(data.labels), spec, task)
    if spec.kind == "bag":
        return _bag(teacher, plan, len(data.labels), spec, reporter)
    return _transformer(teacher, encoder, data, plan, spec, reporter, task)


@dataclass
class ShapePlan:
    """The student's shape as the sizing solver chose it, and what it was chosen from."""

    shape: object  # sizing.BiLSTMShape or sizing.TransformerShape
    counts: np.ndarray  # occurrences of each teacher token in the transfer set
    teacher_vocab: int
    specials: list[int]  # token ids every trimmed vocabulary keeps
    spec: StudentConfig  # what it was solved for

    @property
    def dimensions(self) -> dict:
        """The shape's sizes, what the student's weights depend on (not the reasons or latency estimates)."""
        return {key: value for key, value in asdict(self.shape).items()
                if key not in ("params", "coverage", "reason", "estimated_ms", "considered")}


def plan_shape(teacher: Teacher, encoder: TextEncoder, data: TaskData, spec: StudentConfig,
               latency: LatencyOf | None = None, task: str = SEQUENCE) -> ShapePlan:
    """Size the student for `spec`'s target. It depends on the teacher's size and the data, not on the
    teacher's weights, so a run solves it once before fine-tuning: an impossible target fails at once.
    `latency` estimates a shape's batch latency on this machine (kdedge.export.shape_latency); with it,
    the plan lists every shape considered with its estimate, and `spec.latency` must be met."""
    if spec.latency is not None and latency is None:
        raise ConfigError("student.latency needs a latency estimator", hint="run it through kdedge compress")
    budget_spec = parse_latency(spec.latency) if spec.latency else None
    timing = {"latency": latency, "latency_ms": budget_spec.milliseconds if budget_spec else None,
              "latency_spec": str(budget_spec) if budget_spec else (
                  f"@{latency.batch_size}x{latency.seq_len}" if latency is not None else "")}
    teacher_vocab = max(teacher.tokenizer.get_vocab_size(with_added_tokens=True),
                        teacher.model.get_input_embeddings().num_embeddings)
    counts = token_counts(encoder.encode(data.transfer), teacher_vocab)
    budget = budget_for(teacher.params, parse_target(spec.target) if spec.target else None, spec.max_params)
    unk_id = teacher.hf_tokenizer.unk_token_id
    exclude = (teacher.pad_token_id,) + ((unk_id,) if unk_id is not None else ())  # rows every embedding student has
    if spec.kind == "bilstm":
        shape = solve_bilstm_shape(
            budget, coverage_curve(counts, exclude), len(data.labels), teacher_vocab,
            spec.embedding_dim, spec.hidden_size, spec.vocab_size, teacher_params=teacher.params, **timing,
        )
        return ShapePlan(shape, counts, teacher_vocab, list(exclude), spec)
    if spec.kind == "bag":
        if task != SEQUENCE:
            raise ConfigError("a bag-of-embeddings student classifies whole texts, not tokens",
                              hint="use student.kind=bilstm or transformer for token classification (NER)")
        shape = solve_bag_shape(budget, coverage_curve(counts, exclude), len(data.labels), teacher_vocab,
                                spec.embedding_dim, spec.hidden_size, spec.vocab_size, spec.ngram_buckets,
                                teacher_params=teacher.params)
        return ShapePlan(shape, counts, teacher_vocab, list(exclude), spec)
    teacher_config = teacher.model.config
    if teacher_config.model_type not in SUPPORTED_MODEL_TYPES:
        raise ConfigError(
            f"a Transformer student cannot yet be extracted from a {teacher_config.model_type!r} teacher",
            hint=f"supported teacher architectures: {', '.join(SUPPORTED_MODEL_TYPES)} (BERT, MiniLM); "
                 "or use --student bilstm",
        )
    specials = sorted(set(special_ids(teacher.tokenizer)) | {teacher.pad_token_id})  # always kept
    shape = solve_transformer_shape(
        budget, coverage_curve(counts, tuple(specials)), teacher_config,
        len(data.labels), spec.positions(encoder.max_length, getattr(teacher_config, "max_position_embeddings", None)),
        spec.layers, spec.heads, spec.hidden_size, spec.intermediate_size,
        spec.vocab_size, teacher_params=teacher.params, reserved_tokens=len(specials), task=task, **timing,
    )
    return ShapePlan(shape, counts, teacher_vocab, specials, spec)


def _bilstm(teacher, plan, num_labels, spec, task) -> BuiltStudent:
    shape, unk_id = plan.shape, teacher.hf_tokenizer.unk_token_id
    trim = trim_vocabulary(plan.counts, shape.vocab_size, teacher.pad_token_id, unk_id)
    # every id the tokenizer gives (and the model reads) is below the stride
    stride = max(teacher.tokenizer.get_vocab_size(with_added_tokens=True), plan.teacher_vocab) if spec.casing else 0
    config = BiLSTMConfig(trim.size, shape.embedding_dim, shape.hidden_size, num_labels, plan.teacher_vocab,
                          spec.dropout, task, casing_stride=stride)
    student = BiLSTMClassifier(config, torch.from_numpy(trim.token_map))
    if spec.resolved_init == "pca":
        weights = teacher.model.get_input_embeddings().weight.detach().float().numpy()
        init_bilstm_embeddings(student, weights, trim, unk_id)
    return BuiltStudent(student, teacher.tokenizer, teacher.pad_token_id, shape.reason)


def _bag(teacher, plan, num_labels, spec, reporter) -> BuiltStudent:
    shape, unk_id = plan.shape, teacher.hf_tokenizer.unk_token_id
    trim = trim_vocabulary(plan.counts, shape.vocab_size, teacher.pad_token_id, unk_id)
    config = BagConfig(trim.size, shape.embedding_dim, shape.hidden_size, num_labels, plan.teacher_vocab,
                       shape.ngram_buckets, spec.dropout)
    student = BagClassifier(config, torch.from_numpy(trim.token_map))
    if spec.resolved_init == "teacher-pass":
        init_from_token_pass(student, teacher, trim, unk_id, reporter)
    elif spec.resolved_init == "pca":
        weights = teacher.model.get_input_embeddings().weight.detach().float().numpy()
        init_bilstm_embeddings(student, weights, trim, unk_id)
    return BuiltStudent(student, teacher.tokenizer, teacher.pad_token_id, shape.reason)


def _transformer(teacher, encoder, data, plan, spec, reporter, task) -> BuiltStudent:
    teacher_config, shape, counts, specials = teacher.model.config, plan.shape, plan.counts, plan.specials
    max_length = spec.positions(encoder.max_length, getattr(teacher_config, "max_position_embeddings", None))
    order = np.lexsort((np.arange(len(counts)), -counts))
    frequent = [int(i) for i in order if counts[i] > 0 and i not in specials][: shape.vocab_size - len(specials)]
    trimmed = trim_tokenizer(teacher.tokenizer, np.array(frequent), teacher.pad_token_id)
    config = TransformerConfig(
        vocab_size=trimmed.vocab_size, hidden_size=shape.hidden_size, num_layers=shape.num_layers,
        num_heads=shape.num_heads, intermediate_size=shape.intermediate_size, num_labels=len(data.labels),
        max_position=max_length, type_vocab_size=min(2, getattr(teacher_config, "type_vocab_size", 2)),
        base_config={**teacher_config.to_dict(), "hidden_dropout_prob": spec.dropout,
                     "attention_probs_dropout_prob": spec.dropout},
        task=task,
    )
    method = spec.resolved_init
    reconstructed = method != "random" and spec.reconstruct
    if method == "random":
        student = TransformerClassifier(config)
    else:
        importance = None
        if method == "etd-impt":
            sample = data.transfer[: spec.importance_samples]
            importance = importance_scores(teacher.model, encoder, sample, reporter=reporter)
        selection = select_structure(
            teacher_config, shape.num_layers, shape.num_heads, shape.head_dim, shape.intermediate_size,
            shape.hidden_size, method, importance, seed=spec.seed,
        )
        student = extract_transformer(teacher.model, config, selection, trimmed.teacher_ids)
        reporter.note(f"{method}: kept teacher layers {', '.join(str(i + 1) for i in selection.layers)}")
        if reconstructed:
            _reconstruct(student, teacher, encoder, trimmed, selection, data.transfer[: spec.importance_samples],
                         reporter)
    return BuiltStudent(student, trimmed.tokenizer, trimmed.pad_token_id, shape.reason, trimmed.teacher_ids,
                        reconstructed=reconstructed)


def _reconstruct(student, teacher, encoder, trimmed, selection, texts, reporter) -> None:
    """Re-fit the extracted student on `texts`, read by both models at the same token positions."""
    teacher_vocab = max(int(trimmed.teacher_ids.max()) + 1, teacher.model.get_input_embeddings().num_embeddings)
    unk = teacher.hf_tokenizer.unk_token_id
    to_student = np.full(teacher_vocab, trimmed.pad_token_id, dtype=np.int64)
    to_student[trimmed.teacher_ids] = np.arange(len(trimmed.teacher_ids))
    if unk is not None and unk < teacher_vocab:  # a token the student dropped reads as its unknown token
        dropped = np.ones(teacher_vocab, dtype=bool)
        dropped[trimmed.teacher_ids] = False
        to_student[dropped] = to_student[unk]
    input_ids, attention_mask = (torch.from_numpy(a) for a in encoder.pad(encoder.encode(texts)))
    with reporter.progress("reconstructing the extracted layers", 1) as task:
        reconstruct(student, teacher.model, selection, input_ids, torch.from_numpy(to_student)[input_ids],
                    attention_mask)
        task.advance(1)
    reporter.note(f"reconstructed every kept layer by least squares on {len(texts)} transfer texts")


def casing_stride(student) -> int:
    """The stride at which a student's ids carry word casing (`student.casing`), 0 without."""
    return getattr(student.config, "casing_stride", 0) or 0
