"""`compress`: recipe → teacher → data → student → distillation → export → quantization → artifact.

Each stage writes its output into the run directory with a key made of everything it depends on; a
later run with the same inputs reuses it (a fine-tuned teacher, teacher logits, a trained student),
and a changed input recomputes only the stages downstream of it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from kdedge_runtime import Predictor
from kdedge_runtime.encoding import TextEncoder
from tokenizers import Tokenizer

from kdedge import __version__
from kdedge.artifact import CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE, seal, staged_artifact, write_manifest
from kdedge.batching import padded
from kdedge.data import TaskData
from kdedge.distill import DistillSet, OnlineTeacher, distill, resolve_layer_pairs
from kdedge.errors import ConfigError
from kdedge.export import LogitsOnly, check_logit_parity, export_onnx, fuse_transformer
from kdedge.finetune import finetune_teacher
from kdedge.kept_stages import (
    KeptStudent,
    load_stage,
    resume_point,
    run_key,
    save_stage,
    stage_key,
    stage_plan,
    stage_results,
    write_stage_key,
)
from kdedge.labelling import model_logits, teacher_outputs
from kdedge.latency import median_ms, torch_runner
from kdedge.progress import Reporter
from kdedge.recipe import Recipe
from kdedge.scale import Scale
from kdedge.students import student_classes
from kdedge.students.build import build_student
from kdedge.students.transformer import SUPPORTED_MODEL_TYPES
from kdedge.tasks import TOKEN, gold_matrix, load_data, prediction_rows, primary_metric, split_metrics
from kdedge.teacher import Teacher, count_params, folder_fingerprint, load_teacher, quiet_transformers
from kdedge.teacher_cache import TeacherCache, hidden_field
from kdedge.variants import build_variants, calibration_batches, variant_summary

LATENCY_BATCH = 32


@dataclass
class CompressResult:
    artifact_dir: Path
    manifest: dict
    latency_ms: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def compress(recipe: Recipe, output: str | Path, run_dir: str | Path, reporter: Reporter | None = None,
             from_stage: str | None = None) -> CompressResult | None:
    """Run the whole pipeline and write the artifact folder `output`. Raises KdedgeError on bad input.

    Finished distillation stages in `run_dir` are reused; `from_stage` (a stage name) reruns that
    stage and the ones after it from the checkpoint of the stage before. Under `accelerate launch`
    with several processes, all of them distil and the main one writes the artifact (the others
    return None).
    """
    reporter = reporter or Reporter(quiet=True)
    started = time.perf_counter()
    output, run_dir = Path(output), Path(run_dir)
    check_output(output, run_dir)
    scale = Scale.create(recipe.distill.mixed_precision)
    if not scale.is_main:
        reporter = Reporter(quiet=True)
    if scale.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2))

    prepared = scale.main_first(lambda: prepare(recipe, run_dir, reporter, device=scale.device))
    data, teacher, encoder, labelled = prepared.data, prepared.teacher, prepared.encoder, prepared.teacher_logits
    task = recipe.data.task
    teacher_metrics = split_metrics(task, data.labels, data.test, labelled["test"])
    reporter.note(f"teacher test {_describe_metrics(teacher_metrics)}")

    student, student_tokenizer, student_pad, shape_reason, history = _prepare_student(
        prepared, recipe, run_dir, reporter, from_stage, scale
    )
    if not scale.is_main:
        return None
    student_encoder = TextEncoder(student_tokenizer, recipe.data.max_length, student_pad)
    student_logits = model_logits(student, student_encoder, data.test.texts, batch_size=256, task=task)
    student_metrics = split_metrics(task, data.labels, data.test, student_logits)
    reporter.note(f"student test {_describe_metrics(student_metrics)}")

    reporter.step("exporting to ONNX, quantizing, checking parity")
    with staged_artifact(output) as staging:
        student_tokenizer.save(str(staging / TOKENIZER_FILE))
        sample = padded(student_encoder, student_encoder.encode(data.test.texts[:2] or ["sample"]))
        export_onnx(student, staging / MODEL_FILE, recipe.export.opset, sample, per_token=task == TOKEN)
        fusion = None
        if recipe.student.kind == "transformer":
            hf_config = student.model.config
            hf_config.id2label = dict(enumerate(data.labels))
            hf_config.label2id = {label: i for i, label in enumerate(data.labels)}
            hf_config.to_json_file(str(staging / CONFIG_FILE))
            fusion = fuse_and_report(staging / MODEL_FILE, student.config.num_heads, student.config.hidden_size,
                                     reporter)
        base = _manifest_base(recipe, data, teacher, student, student_encoder)
        if fusion is not None:
            base["fusion"] = fusion
        write_manifest(staging, base)
        variants, parity = _gated_variants(staging, student_encoder, student_logits, data, recipe, reporter,
                                           "the ONNX fp32 export")
        chosen = next(row for row in variants if row.chosen)
        metrics = {"teacher": teacher_metrics, "student": student_metrics}
        for row in variants:
            if row.metrics is not None:
                metrics[f"student_onnx_{row.variant}"] = row.metrics
        metrics["student_onnx"] = metrics[f"student_onnx_{chosen.variant}"]
        disk = {"teacher_weights": _weights_bytes(teacher), "student_onnx": (staging / MODEL_FILE).stat().st_size,
                **{f"student_onnx_{row.variant}": row.file_bytes for row in variants if row.file_bytes}}
        latency = _quick_latency(teacher, encoder, Predictor(staging, threads=os.cpu_count()), student_encoder, data,
                                 reporter)
        manifest = seal(staging, {**base, "variant": chosen.variant, "variants": [row.to_dict() for row in variants],
                                  "metrics": metrics, "parity": parity, "latency_ms_batch32": latency,
                                  "disk_bytes": disk, "training": {"shape": shape_reason, "history": history,
                                               "hardware": scale.describe()}})
    reporter.step(f"artifact written to [bold]{output}[/]")
    return CompressResult(output, manifest, latency, time.perf_counter() - started)


@dataclass
class Prepared:
    """What every student is made from: the data, the (fine-tuned) teacher and its cached outputs."""

    data: TaskData
    teacher: Teacher
    encoder: TextEncoder  # the teacher's tokenizer at the recipe's max_length
    teacher_logits: dict[str, object]  # split → logits: numpy for dev/test/train, memory-mapped for transfer
    logits_key: str
    teacher_hidden: dict[str, dict[int, object]] = field(default_factory=dict)  # split → teacher layer → pooled states


def prepare(recipe: Recipe, run_dir: str | Path, reporter: Reporter | None = None,
            shard: tuple[int, int] = (0, 1), teacher_only: bool = False,
            device: torch.device | str = "cpu") -> Prepared | None:
    """Load and split the data, load (and if needed fine-tune) the teacher, and label every split once.

    The teacher's outputs go to the chunked cache in `run_dir/teacher_cache`. With a `shard` other
    than (0, 1) only that shard's chunks of the transfer set are labelled, and with `teacher_only`
    nothing is; both return None. The teacher is fine-tuned and run on `device` (a GPU, when
    training has one) and handed back on the CPU.
    """
    reporter = reporter or Reporter(quiet=True)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # bad data or an unloadable teacher fail here, before anything is printed or trained
    data = load_data(recipe.data, cache_dir=run_dir / "cache" / "datasets")
    torch.manual_seed(recipe.teacher.seed)  # a new classification head is initialised at load time
    teacher = load_teacher(recipe.teacher.name, data.labels, task=recipe.data.task)
    if recipe.teacher.finetune == "never" and not teacher.head_trained:
        raise ConfigError(
            f"teacher {recipe.teacher.name!r} has no trained head for labels {', '.join(data.labels)}",
            hint="set teacher.finetune=auto so that kdedge fine-tunes it on the train split first",
        )
    reporter.step(f"recipe [bold]{recipe.name}[/]: {recipe.description or 'custom run'}")
    for note in data.notes:
        reporter.note(note)
    reporter.note(
        f"{len(data.train):,} train / {len(data.dev):,} dev / {len(data.test):,} test labelled rows; "
        f"{len(data.transfer):,} transfer texts, labels dropped; labels: {', '.join(data.labels)}"
    )
    encoder = TextEncoder(teacher.tokenizer, recipe.data.max_length, teacher.pad_token_id)
    teacher.model.to(device)
    teacher, teacher_key = _prepare_teacher(teacher, encoder, data, recipe, run_dir, reporter)
    teacher.model.to(device)  # a reloaded fine-tuned teacher starts on the CPU
    try:
        return _label(recipe, run_dir, reporter, shard, teacher_only, data, teacher, encoder, teacher_key)
    finally:
        teacher.model.to("cpu")


def _label(recipe, run_dir, reporter, shard, teacher_only, data, teacher, encoder, teacher_key) -> Prepared | None:
    """The teacher's outputs for every split, from the cache or computed into it."""
    if teacher_only:
        return None
    logits_key = run_key(teacher_key, data.fingerprint(), recipe.data.max_length)
    cache = TeacherCache(run_dir / "teacher_cache", logits_key)
    layers = _teacher_layers(recipe, teacher)
    fields = ["logits", *(hidden_field(layer) for layer in layers)]
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
    hidden = {split: {layer: cache.array(split, hidden_field(layer)) for layer in layers}
              for split in splits if split != "test"}
    return Prepared(data, teacher, encoder, labelled, logits_key, hidden)


def _teacher_layers(recipe: Recipe, teacher: Teacher) -> list[int]:
    """The teacher layers (0 = embeddings) whose hidden states the recipe's stages match."""
    if not any(stage.losses.hidden_states > 0 for stage in recipe.distill.resolved_stages):
        return []
    depth = teacher.model.config.num_hidden_layers
    return sorted({t for _, t in resolve_layer_pairs(recipe.distill, 10**6, depth)})


def extract(recipe: Recipe, output: str | Path, run_dir: str | Path, reporter: Reporter | None = None) -> dict:
    """Extract an undistilled student from the (fine-tuned) teacher and save it with `save_pretrained`.

    Writes a Hugging Face model folder for a Transformer student (config, weights, tokenizer), or the
    state dict and config of a BiLSTM; returns a summary.
    """
    reporter = reporter or Reporter(quiet=True)
    output, run_dir = Path(output), Path(run_dir)
    if output.exists() and any(output.iterdir()):
        raise ConfigError(f"output folder {output} is not empty", hint="choose a new -o/--output folder")
    prepared = prepare(recipe, run_dir, reporter)
    data, teacher, encoder = prepared.data, prepared.teacher, prepared.encoder
    built = build_student(teacher, encoder, data, recipe.student, reporter, recipe.data.task)
    params = count_params(built.model)
    reporter.step(f"{recipe.student.kind} student, init {recipe.student.resolved_init}: {params:,} parameters, "
                  f"{teacher.params / params:.1f}x fewer than the teacher")
    reporter.note(built.shape)
    partial = output.parent / f".{output.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    if recipe.student.kind == "transformer":
        _save_hf_student(built, teacher, data.labels, partial)
    else:
        torch.save(built.model.state_dict(), partial / "student.pt")
        built.tokenizer.save(str(partial / TOKENIZER_FILE))
    summary = {"kind": recipe.student.kind, "init": recipe.student.resolved_init,
               "reconstructed": built.reconstructed, "params": params, "teacher_params": teacher.params,
               "compression": teacher.params / params, "shape": built.shape, "config": built.model.config.to_dict()}
    (partial / "kdedge-student.json").write_text(json.dumps(summary, indent=2))
    if output.exists():
        output.rmdir()
    os.replace(partial, output)
    return summary


def export_teacher(recipe: Recipe, output: str | Path, run_dir: str | Path, reporter: Reporter | None = None) -> dict:
    """The teacher itself as an artifact (ONNX fp32, fused, plus the recipe's variants, same gates): the
    baseline a user would deploy without kdedge, served by the same runtime and measured by `kdedge bench`."""
    reporter = reporter or Reporter(quiet=True)
    output, run_dir = Path(output), Path(run_dir)
    check_output(output, run_dir)
    task = recipe.data.task
    data = load_data(recipe.data, cache_dir=run_dir / "cache" / "datasets")
    torch.manual_seed(recipe.teacher.seed)
    teacher = load_teacher(recipe.teacher.name, data.labels, task=task)
    encoder = TextEncoder(teacher.tokenizer, recipe.data.max_length, teacher.pad_token_id)
    teacher, _ = _prepare_teacher(teacher, encoder, data, recipe, run_dir, reporter)
    teacher.model.set_attn_implementation("eager")  # plain attention ops, which onnxruntime fuses
    torch_logits = model_logits(teacher.model, encoder, data.test.texts, 64, reporter, "teacher on test", task)
    reporter.step("exporting the teacher to ONNX and building its variants")
    with staged_artifact(output) as staging:
        teacher.tokenizer.save(str(staging / TOKENIZER_FILE))
        sample = padded(encoder, encoder.encode(data.test.texts[:2] or ["sample"]))
        export_onnx(LogitsOnly(teacher.model), staging / MODEL_FILE, recipe.export.opset, sample,
                    per_token=task == TOKEN)
        config = teacher.model.config
        fusion = None
        if config.model_type in SUPPORTED_MODEL_TYPES:
            fusion = fuse_and_report(staging / MODEL_FILE, config.num_attention_heads, config.hidden_size, reporter)
        base = {
            "task": task, "labels": list(data.labels), "max_length": encoder.max_length,
            "pad_token_id": encoder.pad_token_id, "inputs": ["input_ids", "attention_mask"], "outputs": ["logits"],
            "teacher": {"name": teacher.name, "source": teacher.source, "params": teacher.params},
            "student": {"kind": "teacher", "params": teacher.params}, "compression": 1.0,
            "recipe": recipe.to_dict(), "kdedge_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **({"fusion": fusion} if fusion is not None else {}),
        }
        write_manifest(staging, base)
        variants, parity = _gated_variants(staging, encoder, torch_logits, data, recipe, reporter,
                                           "the teacher's ONNX fp32 export")
        chosen = next(row for row in variants if row.chosen)
        manifest = seal(staging, {**base, "variant": chosen.variant, "variants": [row.to_dict() for row in variants],
                                  "metrics": {"teacher": split_metrics(task, data.labels, data.test, torch_logits),
                                              "student_onnx": chosen.metrics},
                                  "parity": parity})
    reporter.step(f"teacher artifact written to [bold]{output}[/]")
    return manifest


def fuse_and_report(path: Path, num_heads: int, hidden_size: int, reporter: Reporter) -> dict[str, int]:
    """onnxruntime's transformer fusion, in place; says what it fused and warns when nothing was."""
    fusion = fuse_transformer(path, num_heads, hidden_size)
    reporter.note("fused: " + (", ".join(f"{n} {op}" for op, n in fusion.items() if n) or "nothing"))
    if not any(fusion.values()):
        reporter.note("[yellow]warning:[/] onnxruntime fused no attention or LayerNorm nodes")
    return fusion


def _gated_variants(staging: Path, encoder: TextEncoder, reference_logits: np.ndarray, data, recipe: Recipe,
                    reporter: Reporter, what: str) -> tuple[list, dict]:
    """The parity gate of `staging/model.onnx` against PyTorch's test logits, then the recipe's variants,
    each gated and measured (`variants.build_variants`). Returns the variants table and the parity record."""
    task = recipe.data.task
    fp32_logits = Predictor(staging, threads=os.cpu_count()).logits(data.test.texts)

    def rows_of(logits):
        return prediction_rows(task, logits, data.test.texts)

    difference = check_logit_parity(rows_of(reference_logits), rows_of(fp32_logits), recipe.export.atol, what)
    parity = {"fp32_max_abs_logit_difference": difference, "atol": recipe.export.atol,
              "min_agreement": recipe.export.min_agreement}
    calibration = (calibration_batches(encoder, data.transfer, recipe.export.calibration_size, recipe.data.seed)
                   if "int8-static" in recipe.export.variants else [])
    reporter.note(f"variants: fp32, {', '.join(v for v in recipe.export.variants if v != 'fp32') or 'none other'}; "
                  f"gate {recipe.export.min_agreement:.0%} agreement, tolerance {recipe.export.max_accuracy_drop:g}")
    variants = build_variants(staging, encoder, fp32_logits, data.test.texts,
                              lambda logits: split_metrics(task, data.labels, data.test, logits), rows_of,
                              primary_metric(task), calibration, recipe.export, reporter,
                              recipe.export.resolved_per_channel(recipe.student.kind))
    reporter.note(variant_summary(variants))
    return variants, parity


def _save_hf_student(built, teacher: Teacher, labels: tuple[str, ...], folder: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    model = built.model.model
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {label: i for i, label in enumerate(labels)}
    special = {name: getattr(teacher.hf_tokenizer, name) for name in
               ("unk_token", "pad_token", "cls_token", "sep_token", "mask_token", "bos_token", "eos_token")
               if getattr(teacher.hf_tokenizer, name, None)}
    with quiet_transformers():
        model.save_pretrained(folder)
        PreTrainedTokenizerFast(tokenizer_object=built.tokenizer, **special).save_pretrained(folder)


def _prepare_teacher(
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
    reporter.step(
        f"teacher {teacher.name}: {teacher.params:,} parameters; fine-tuning its new head on "
        f"{len(data.train):,} labelled rows (stage 0, kept in {stage_dir})"
    )
    finetune_teacher(teacher.model, encoder, data.train, recipe.teacher, reporter, recipe.data.task)
    partial = run_dir / "teacher.partial"
    shutil.rmtree(partial, ignore_errors=True)
    with quiet_transformers():
        teacher.model.save_pretrained(partial)
        teacher.hf_tokenizer.save_pretrained(partial)
    shutil.rmtree(stage_dir, ignore_errors=True)
    os.replace(partial, stage_dir)
    write_stage_key(stage_dir, key)
    return load_teacher(teacher.name, data.labels, source=str(stage_dir), task=recipe.data.task), key


def _prepare_student(
    prepared: Prepared, recipe: Recipe, run_dir: Path, reporter: Reporter, from_stage: str | None = None,
    scale: Scale | None = None,
) -> tuple[torch.nn.Module, Tokenizer, int, str, list[dict]]:
    """Build a student (sized, initialised from the teacher) and run the recipe's distillation stages.

    Each finished stage is kept in `run_dir/student-<kind>/<n>-<name>` under a key chained from the
    teacher, the data, the student spec and every stage up to it; a later run resumes after the last
    stage whose key still matches, or from `from_stage`.
    """
    teacher, data = prepared.teacher, prepared.data
    stages = recipe.distill.resolved_stages
    distill_common = {k: v for k, v in recipe.to_dict()["distill"].items() if k != "stages"}
    folders, keys = stage_plan(recipe, run_dir / f"student-{recipe.student.kind}",
                               run_key(prepared.logits_key, recipe.to_dict()["student"], distill_common))
    done = resume_point(recipe, folders, keys, from_stage)

    config_class, model_class = student_classes(recipe.student.kind)
    if done >= 0:
        kept = load_stage(folders[done])
        student = model_class(config_class(**kept.config))
        student.load_state_dict(kept.state)
        tokenizer, pad_token_id, shape, teacher_ids = kept.tokenizer, kept.pad_token_id, kept.shape, kept.teacher_ids
        reporter.step(f"student: reusing the {recipe.student.kind} after stage {done + 1} ({stages[done].name}) "
                      f"in {folders[done]}")
    else:
        built = build_student(teacher, prepared.encoder, data, recipe.student, reporter, recipe.data.task)
        student, tokenizer, pad_token_id, shape, teacher_ids = (
            built.model, built.tokenizer, built.pad_token_id, built.shape, built.teacher_ids)
        reporter.step(f"student {recipe.student.kind}: {count_params(student):,} parameters, "
                      f"{teacher.params / count_params(student):.1f}x fewer than the teacher "
                      f"(init {recipe.student.resolved_init})")
        reporter.note(shape)

    def keep(number: int, outcome) -> None:
        if scale.is_main:
            kept = KeptStudent(student.config.to_dict(), student.state_dict(), tokenizer, pad_token_id, shape,
                               teacher_ids)
            save_stage(folders[number], keys[number], kept, outcome)

    scale = scale or Scale.create(recipe.distill.mixed_precision)
    if done < len(stages) - 1:
        reporter.note(f"training on {scale.describe()}")
        student_encoder = TextEncoder(tokenizer, prepared.encoder.max_length, pad_token_id)
        depth = teacher.model.config.num_hidden_layers
        student_depth = len(student.layer_groups()) - 2
        train, dev = distill_sets(prepared, recipe)
        online = None
        if any(stage.losses.attention > 0 for stage in stages):
            online = OnlineTeacher(teacher.model, torch.from_numpy(teacher_ids).long() if teacher_ids is not None else None)
        try:
            distill(student, student_encoder, train, dev, recipe.distill, reporter,
                    resolve_layer_pairs(recipe.distill, student_depth, depth), online, keep, first_stage=done + 1,
                    scale=scale)
        finally:
            if online is not None:
                online.restore()
                teacher.model.to("cpu")
            student.to("cpu")  # export, evaluation and the artifact are on the CPU
        scale.wait()  # every stage is kept before any process reads the history
    return student, tokenizer, pad_token_id, shape, stage_results(folders)


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


def _quick_latency(
    teacher: Teacher, encoder: TextEncoder, student: Predictor, student_encoder: TextEncoder, data: TaskData,
    reporter: Reporter,
) -> dict:
    """Teacher (PyTorch fp32) vs the chosen student (ONNX) on one batch of test texts, same machine, same run."""
    texts = (data.test.texts * (LATENCY_BATCH // max(len(data.test.texts), 1) + 1))[:LATENCY_BATCH]
    input_ids, attention_mask = padded(encoder, encoder.encode(texts))
    student_ids, student_mask = student_encoder.pad(student_encoder.encode(texts))
    teacher_ms = median_ms(torch_runner(teacher.model, input_ids, attention_mask))
    student_ms = median_ms(lambda: student.run(student_ids, student_mask), repeats=20, warmup=3)
    reporter.note(f"batch {LATENCY_BATCH} x {input_ids.shape[1]} tokens: teacher {teacher_ms:.1f} ms, "
                  f"student {student_ms:.2f} ms ({teacher_ms / student_ms:.0f}x faster)")
    return {"batch_size": LATENCY_BATCH, "seq_len": int(input_ids.shape[1]), "teacher_torch_fp32": teacher_ms,
            "student_onnx": student_ms, "threads": torch.get_num_threads()}


def _describe_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{name.replace('_', ' ')} {value:.4f}" for name, value in metrics.items())


def _weights_bytes(teacher: Teacher) -> int:
    """Size of the teacher's weight files, or its fp32 size when it came from the hub cache."""
    folder = Path(teacher.source)
    files = [f for pattern in ("*.safetensors", "*.bin") for f in folder.glob(pattern)] if folder.is_dir() else []
    return sum(f.stat().st_size for f in files) or teacher.params * 4


def _manifest_base(recipe: Recipe, data: TaskData, teacher: Teacher, student, encoder: TextEncoder) -> dict:
    student_params = count_params(student)
    return {
        "task": recipe.data.task,
        "labels": list(data.labels),
        "max_length": encoder.max_length,
        "pad_token_id": encoder.pad_token_id,
        "inputs": ["input_ids", "attention_mask"],
        "outputs": ["logits"],
        "teacher": {"name": teacher.name, "source": teacher.source, "params": teacher.params},
        "student": {"kind": recipe.student.kind, "params": student_params, "config": student.config.to_dict()},
        "compression": round(teacher.params / student_params, 3),
        "data": {"source": recipe.data.source, "train": len(data.train), "dev": len(data.dev),
                 "test": len(data.test), "transfer": len(data.transfer)},
        "recipe": recipe.to_dict(),
        "kdedge_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def check_output(output: Path, run_dir: Path) -> None:
    if output.exists() and not (output / "kdedge.json").is_file():
        raise ConfigError(
            f"output folder {output} exists and is not a kdedge artifact",
            hint="choose a new --output folder (an existing artifact is replaced, anything else is left alone)",
        )
    if output.resolve() == run_dir.resolve():
        raise ConfigError("--output and --run-dir must be different folders")
