"""Preparing a run: the data split, the teacher (stage 0: fine-tuned once and kept in the run directory)
and its outputs on every split, cached in chunks; and the sets the student is distilled on."""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from kdedge.data.augment import augment_texts, needs_augmenting, synthetic_count
from kdedge.data.readers import TaskData
from kdedge.data.tasks import TOKEN, gold_matrix, load_data
from kdedge.distill.kept_stages import run_key, stage_key, write_stage_key
from kdedge.distill.loop import DistillSet, check_attention_layer, resolve_layer_pairs
from kdedge.errors import ConfigError
from kdedge.export.shape_latency import ShapeLatency
from kdedge.ownership import claim_run_dir, remove_stage
from kdedge.progress import Reporter
from kdedge.recipe import Recipe
from kdedge.students.build import ShapePlan, plan_shape
from kdedge.students.config import parse_latency
from kdedge.students.cost_model import CostModel
from kdedge.teacher.cache import TeacherCache, hidden_field
from kdedge.teacher.config import DEFAULT_EPOCHS, finetune_steps, steps_per_epoch
from kdedge.teacher.finetune import finetune_teacher
from kdedge.teacher.labelling import teacher_outputs
from kdedge.teacher.loading import Teacher, folder_fingerprint, load_teacher, quiet_transformers
from kdedge.teacher.neighbours import word_neighbours
from kdedge_runtime.encoding import TextEncoder


@dataclass
class Prepared:
    """What every student is made from: the data, the (fine-tuned) teacher and its cached outputs."""

    data: TaskData
    teacher: Teacher
    encoder: TextEncoder  # the teacher's tokenizer at the recipe's max_length
    teacher_logits: dict[str, object]  # split → logits: numpy for dev/test/train, memory-mapped for transfer
    logits_key: str
    teacher_hidden: dict[str, dict[int, object]] = field(default_factory=dict)  # split → teacher layer → pooled states
    student_plan: ShapePlan | None = None  # the student's shape, solved before the teacher was fine-tuned


def prepare(recipe: Recipe, run_dir: str | Path, reporter: Reporter | None = None,
            shard: tuple[int, int] = (0, 1), teacher_only: bool = False,
            device: torch.device | str = "cpu", check_student: bool = True) -> Prepared | None:
    """Load and split the data, load (and if needed fine-tune) the teacher, and label every split once.

    The teacher's outputs go to the chunked cache in `run_dir/teacher_cache`. With a `shard` other
    than (0, 1) only that shard's chunks of the transfer set are labelled, and with `teacher_only`
    nothing is; both return None. The teacher is fine-tuned and run on `device` (a GPU, when
    training has one) and handed back on the CPU. With `check_student`, the student's shape is solved
    before anything is trained, so an impossible --target fails in seconds, not after fine-tuning.
    """
    reporter = reporter or Reporter(quiet=True)
    run_dir = claim_run_dir(Path(run_dir))
    # bad data or an unloadable teacher fail here, before anything is printed or trained
    data = load_data(recipe.data, cache_dir=run_dir / "cache" / "datasets")
    torch.manual_seed(recipe.teacher.seed)  # a new classification head is initialised at load time
    teacher = load_teacher(recipe.teacher.name, data.labels, task=recipe.data.task)
    if recipe.teacher.finetune == "never" and not teacher.head_trained:
        raise ConfigError(
            f"teacher {recipe.teacher.name!r} has no trained head for labels {', '.join(data.labels)}",
            hint="set teacher.finetune=auto so that kdedge fine-tunes it on the train split first",
        )
    positions = getattr(teacher.model.config, "max_position_embeddings", None)
    if positions is not None and recipe.data.max_length > positions:
        raise ConfigError(f"data.max_length = {recipe.data.max_length} is longer than teacher "
                          f"{recipe.teacher.name!r} reads ({positions} positions)",
                          hint=f"set data.max_length to {positions} or less")
    data = augmented(data, recipe, teacher)
    encoder = TextEncoder(teacher.tokenizer, recipe.data.max_length, teacher.pad_token_id)
    plan = estimator = None
    if check_student:
        estimator = shape_estimator(recipe.student)
        if recipe.student.latency:  # the first time on a machine, the cost model's probes take up to a minute
            reporter.note(f"estimating the latency of student shapes at {recipe.student.latency} on this CPU "
                          "(probe shapes timed once per machine, then cached)")
        plan = plan_shape(teacher, encoder, data, recipe.student, estimator, recipe.data.task)
        if recipe.student.kind == "transformer" and any(s.losses.attention > 0 for s in recipe.distill.resolved_stages):
            check_attention_layer(recipe.distill, plan.shape.num_layers, teacher.model.config.num_hidden_layers)
        _teacher_layers(recipe, teacher)  # distill.hidden_layers names layers the teacher has
    reporter.step(f"recipe [bold]{recipe.name}[/]: {recipe.description or 'custom run'}")
    for note in data.notes:
        reporter.note(note)
    if plan is not None and plan.shape.considered:
        rows = plan.shape.considered
        picks = [rows[i] for i in sorted({0, len(rows) // 4, len(rows) // 2, 3 * len(rows) // 4, len(rows) - 1})]
        by = (f"for --latency {recipe.student.latency}, estimated on this CPU" if recipe.student.latency else
              f"by estimated cost (committed cost model, batch 32 x 128 tokens; {estimator.describe()})")
        reporter.note(f"student shapes {by}: "
                      + "; ".join(f"{text} {coverage:.1%} of tokens {ms:.1f} ms" for text, _, coverage, ms in picks)
                      + f" ({len(rows)} considered); chosen: {plan.shape.reason}")
    reporter.note(
        f"{len(data.train):,} train / {len(data.dev):,} dev / {len(data.test):,} test labelled rows; "
        f"{len(data.transfer):,} transfer texts, labels dropped; labels: {', '.join(data.labels)}"
    )
    teacher.model.to(device)
    teacher, teacher_key = prepare_teacher(teacher, encoder, data, recipe, run_dir, reporter)
    teacher.model.to(device)  # a reloaded fine-tuned teacher starts on the CPU
    try:
        return _label(recipe, run_dir, reporter, shard, teacher_only, data, teacher, encoder, teacher_key, plan)
    finally:
        teacher.model.to("cpu")


def shape_estimator(spec) -> ShapeLatency | CostModel | None:
    """With `student.latency`, an estimator of each candidate shape's latency at its batch and length on
    this machine (calibrated once per machine, then cached); without it, the committed cost model
    (`student.shape_by: cost`, the same estimate on every machine) or none (`parameters`, or a bag student,
    whose cost does not depend on its shape)."""
    if spec.kind == "bag":
        return None
    if spec.latency is None:
        return CostModel.committed(spec.kind) if spec.shape_by == "cost" else None
    budget = parse_latency(spec.latency)
    return ShapeLatency(spec.kind, budget.batch_size, budget.seq_len)


def augmented(data: TaskData, recipe: Recipe, teacher: Teacher) -> TaskData:
    """`data` with synthetic transfer texts added when `data.augment` asks for them (or, by default, when
    the transfer set is scarce); a note says how many and how they were made."""
    config = recipe.data
    if not needs_augmenting(len(data.train), len(data.transfer), config.augment):
        return data
    count = synthetic_count(len(data.train), len(data.transfer), config.augment_factor, config.augment_max)
    if config.max_transfer is not None:
        count = min(count, max(0, config.max_transfer - len(data.transfer)))
    if count == 0:
        return data
    hf_tokenizer = teacher.hf_tokenizer
    words = {word for text in data.train.texts for word in text.split()}
    neighbours = word_neighbours(hf_tokenizer, teacher.model.get_input_embeddings().weight, words)
    made = augment_texts(data.train.texts, count, config.seed, getattr(hf_tokenizer, "mask_token", None), neighbours,
                         exclude=set(data.transfer) | set(data.dev.texts) | set(data.test.texts))
    why = "data.augment is on" if config.augment else (
        f"only {len(data.transfer) - len(data.train):,} unlabelled texts beyond the {len(data.train):,} train texts")
    note = (f"synthesised {len(made):,} transfer texts from the train texts ({why}; masking, swaps with the "
            f"teacher's nearest words for {len(neighbours):,} words, n-gram sampling; data.augment: false turns "
            "this off)")
    return dataclasses.replace(data, transfer=data.transfer + made, notes=[*data.notes, note])


def _label(recipe, run_dir, reporter, shard, teacher_only, data, teacher, encoder, teacher_key,
           plan) -> Prepared | None:
    """The teacher's outputs for every split, from the cache or computed into it."""
    if teacher_only:
        return None
    logits_key = run_key(teacher_key, data.fingerprint(), recipe.data.max_length)
    cache = TeacherCache(run_dir / "teacher_cache", logits_key)
    layers = _teacher_layers(recipe, teacher)
    per_word = recipe.data.task == TOKEN  # a tagger matches the teacher word by word
    fields = ["logits", *(hidden_field(layer, per_word) for layer in layers)]
    splits = {"dev": data.dev.texts, "test": data.test.texts, "transfer": data.transfer}
    if any(stage.losses.gold_labels > 0 for stage in recipe.distill.resolved_stages):
        splits["train"] = data.train.texts

    def compute(texts, names):
        return teacher_outputs(teacher.model, encoder, texts, names, task=recipe.data.task)

    if shard != (0, 1):
        computed = cache.fill("transfer", data.transfer, fields, compute, reporter, shard)
        reporter.step(f"shard {shard[0]}/{shard[1]}: labelled {computed} chunks of the transfer set; "
                      f"{len(cache.missing_chunks('transfer', len(data.transfer), fields))} chunks still missing")
        return None
    for split, texts in splits.items():
        cache.fill(split, texts, fields if split != "test" else ["logits"], compute, reporter)
    labelled = {split: cache.array(split, "logits") for split in splits}
    labelled = {split: array if split == "transfer" else array.numpy() for split, array in labelled.items()}
    hidden = {split: {layer: cache.array(split, hidden_field(layer, per_word)) for layer in layers}
              for split in splits if split != "test"}
    return Prepared(data, teacher, encoder, labelled, logits_key, hidden, plan)


def _teacher_layers(recipe: Recipe, teacher: Teacher) -> list[int]:
    """The teacher layers (0 = embeddings) whose hidden states the recipe's stages match."""
    if not any(stage.losses.hidden_states > 0 for stage in recipe.distill.resolved_stages):
        return []
    depth = teacher.model.config.num_hidden_layers
    return sorted({t for _, t in resolve_layer_pairs(recipe.distill, 10**6, depth)})


def prepare_teacher(
    teacher: Teacher, encoder: TextEncoder, data: TaskData, recipe: Recipe, run_dir: Path, reporter: Reporter
) -> tuple[Teacher, str]:
    """Stage 0: use a trained head as is, or fine-tune once and keep the result in the run directory."""
    source_key = run_key(teacher.source, folder_fingerprint(teacher.source))
    if teacher.head_trained and recipe.teacher.finetune != "always":
        reporter.step(f"teacher {teacher.name}: {teacher.params:,} parameters, head already trained for these labels")
        return teacher, source_key
    stage_dir = run_dir / "teacher"
    key = run_key(source_key, data.fingerprint(), recipe.to_dict()["teacher"], recipe.data.max_length)
    if stage_key(stage_dir) == key:
        reporter.step(f"teacher {teacher.name}: reusing the fine-tuned teacher in {stage_dir}")
        return load_teacher(teacher.name, data.labels, source=str(stage_dir), task=recipe.data.task), key
    steps = finetune_steps(recipe.teacher, len(data.train))
    epochs = steps / max(1, steps_per_epoch(recipe.teacher, len(data.train)))
    raised = (f"; teacher.min_steps raises the default 2 epochs to {epochs:.1f} on this small split"
              if recipe.teacher.epochs is None and steps == recipe.teacher.min_steps and epochs > DEFAULT_EPOCHS else "")
    reporter.step(
        f"teacher {teacher.name}: {teacher.params:,} parameters; fine-tuning its new head on "
        f"{len(data.train):,} labelled rows for {steps:,} steps (stage 0, kept in {stage_dir}{raised})"
    )
    finetune_teacher(teacher.model, encoder, data.train, recipe.teacher, reporter, recipe.data.task)
    partial = run_dir / "teacher.partial"
    shutil.rmtree(partial, ignore_errors=True)
    with quiet_transformers():
        teacher.model.save_pretrained(partial)
        teacher.hf_tokenizer.save_pretrained(partial)
    write_stage_key(partial, key)  # stamped before it takes the stage's name: a killed run leaves no unstamped stage
    remove_stage(stage_dir)  # only a teacher kdedge fine-tuned: a user's own `teacher/` folder is refused, not lost
    os.replace(partial, stage_dir)
    return load_teacher(teacher.name, data.labels, source=str(stage_dir), task=recipe.data.task), key


def distill_sets(prepared: Prepared, recipe: Recipe) -> tuple[DistillSet, DistillSet]:
    """The transfer set (plus the labelled train split when a stage uses gold labels) and the dev split."""
    data, logits, hidden = prepared.data, prepared.teacher_logits, prepared.teacher_hidden
    task, width = recipe.data.task, prepared.encoder.max_length

    def gold_of(split) -> np.ndarray:
        return gold_matrix(split.tags, width) if task == TOKEN else split.labels.astype(np.int64)

    common = {"task": task, "labels": tuple(data.labels)}
    train = DistillSet(list(data.transfer), logits["transfer"], hidden.get("transfer", {}), **common)
    if "train" in logits:
        gold = np.concatenate([train.gold, gold_of(data.train)])
        train = DistillSet(
            list(data.transfer) + list(data.train.texts), _Stacked(logits["transfer"], logits["train"]),
            {layer: _Stacked(array, hidden["train"][layer]) for layer, array in hidden.get("transfer", {}).items()},
            gold, **common,
        )
    dev = DistillSet(list(data.dev.texts), logits["dev"], hidden.get("dev", {}), gold_of(data.dev), **common)
    return train, dev


class _Stacked:
    """Rows of `first` followed by rows of `second`, gathered by index without copying either."""

    def __init__(self, first, second):
        self.first, self.second = first, second

    def __len__(self) -> int:
        return len(self.first) + len(self.second)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.first.shape[1:])

    def __getitem__(self, indices) -> np.ndarray:
        indices = np.asarray(indices)
        low = indices < len(self.first)
        first = np.asarray(self.first[indices[low]]) if low.any() else None
        second = np.asarray(self.second[indices[~low] - len(self.first)]) if (~low).any() else None
        sample = first if first is not None else second
        out = np.empty((len(indices), *sample.shape[1:]), dtype=sample.dtype)
        if first is not None:
            out[low] = first
        if second is not None:
            out[~low] = second
        return out

