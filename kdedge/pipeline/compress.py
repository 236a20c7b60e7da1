"""`compress`: recipe → teacher → data → student → distillation → export → quantization → artifact.

Each stage writes its output into the run directory with a key made of everything it depends on; a
later run with the same inputs reuses it (a fine-tuned teacher, teacher logits, a trained student),
and a changed input recomputes only the stages downstream of it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from kdedge import __version__
from kdedge.bench.machine import cpu_summary
from kdedge.data.batching import padded
from kdedge.data.intervals import accuracy_intervals, majority_baseline, quality_check
from kdedge.data.readers import TaskData
from kdedge.data.tasks import TOKEN, prediction_rows, primary_metric, split_metrics
from kdedge.distill.kept_stages import (
    KeptStudent,
    load_stage,
    resume_point,
    run_key,
    save_stage,
    stage_plan,
    stage_results,
)
from kdedge.distill.loop import OnlineTeacher, distill, resolve_layer_pairs
from kdedge.distill.scale import Scale
from kdedge.export.artifact import (
    CONFIG_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    check_output,
    seal,
    staged_artifact,
    write_manifest,
)
from kdedge.export.latency import median_ms, torch_runner
from kdedge.export.onnx import check_logit_parity, export_onnx, fuse_and_report
from kdedge.export.variants import build_variants, calibration_batches, variant_summary
from kdedge.ownership import claim_run_dir, run_lock
from kdedge.pipeline.prepare import Prepared, distill_sets, prepare
from kdedge.pipeline.result import CompressResult
from kdedge.progress import Reporter
from kdedge.recipe import Recipe
from kdedge.students import student_classes
from kdedge.students.build import build_student, casing_stride
from kdedge.students.config import parse_latency
from kdedge.teacher.labelling import model_logits
from kdedge.teacher.loading import Teacher, count_params
from kdedge_runtime import Predictor
from kdedge_runtime.encoding import TextEncoder

LATENCY_BATCH = 32



def compress(recipe: Recipe, output: str | Path, run_dir: str | Path, reporter: Reporter | None = None,
             from_stage: str | None = None) -> CompressResult | None:
    """`_compress` with the run directory held for this run alone (`ownership.run_lock`)."""
    check_output(Path(output), Path(run_dir))  # before the run directory is made: a refused run writes nothing
    with run_lock(run_dir, "kdedge compress"):
        return _compress(recipe, output, run_dir, reporter, from_stage)


def _compress(recipe: Recipe, output: str | Path, run_dir: str | Path, reporter: Reporter | None = None,
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
        claim_run_dir(run_dir)  # a folder kdedge did not make is refused before anything is written into it
        (run_dir / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2))

    prepared = scale.main_first(lambda: prepare(recipe, run_dir, reporter, device=scale.device))
    data, teacher, encoder, labelled = prepared.data, prepared.teacher, prepared.encoder, prepared.teacher_logits
    task = recipe.data.task
    teacher_metrics = split_metrics(task, data.labels, data.test, labelled["test"])
    reporter.note(f"teacher test {describe_metrics(teacher_metrics)}")

    student, student_tokenizer, student_pad, shape_reason, history = _prepare_student(
        prepared, recipe, run_dir, reporter, from_stage, scale
    )
    if not scale.is_main:
        return None
    student_encoder = TextEncoder(student_tokenizer, recipe.data.max_length, student_pad, casing_stride(student))
    student_logits = model_logits(student, student_encoder, data.test.texts, batch_size=256, task=task)
    student_metrics = split_metrics(task, data.labels, data.test, student_logits)
    reporter.note(f"student test {describe_metrics(student_metrics)}")

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
        variants, parity, shipped_metrics = gated_variants(staging, student_encoder, student_logits, data, recipe,
                                                           reporter, "the ONNX fp32 export")
        chosen = next(row for row in variants if row.chosen)
        reporter.note(f"shipped {chosen.variant}: test {describe_metrics(shipped_metrics)}")
        metrics = {"teacher": teacher_metrics, "student": student_metrics, "student_onnx": shipped_metrics}
        intervals = accuracy_intervals(metrics, len(data.test.texts))  # NER's metrics have no accuracy: none
        majority = majority_baseline(data.test.labels, tuple(data.labels)) if task != TOKEN else None
        quality = quality_check(metrics, intervals, primary_metric(task), recipe.export.quality_bar,
                                len(data.test.texts), len(data.transfer), majority, len(data.train))
        disk = {"teacher_weights": _weights_bytes(teacher), "student_onnx": (staging / MODEL_FILE).stat().st_size,
                **{f"student_onnx_{row.variant}": row.file_bytes for row in variants if row.file_bytes}}
        shipped = Predictor(staging, threads=os.cpu_count(), unsealed=True)
        latency = _quick_latency(teacher, encoder, shipped, student_encoder, data, reporter)
        if recipe.student.latency:
            latency["budget"] = _budget_check(shipped, recipe, prepared, reporter)
        manifest = seal(staging, {**base, "variant": chosen.variant, "variants": [row.to_dict() for row in variants],
                                  "metrics": metrics, "intervals": intervals, "quality": quality.to_dict(),
                                  "parity": parity, "latency_ms_batch32": latency,
                                  "disk_bytes": disk, "training": {"shape": shape_reason, "history": history,
                                               "hardware": scale.describe()}})
    reporter.step(f"artifact written to [bold]{output}[/]")
    if quality.warning:
        reporter.note(f"[yellow]warning:[/] {quality.warning}")
    return CompressResult(output, manifest, latency, time.perf_counter() - started)


def _prepare_student(
    prepared: Prepared, recipe: Recipe, run_dir: Path, reporter: Reporter, from_stage: str | None = None,
    scale: Scale | None = None,
) -> tuple[torch.nn.Module, Tokenizer, int, str, list[dict]]:
    """Build a student (sized, initialised from the teacher) and run the recipe's distillation stages.

    Each finished stage is kept in `run_dir/student-<kind>/<n>-<name>` under a key chained from the
    teacher, the data, the student spec and the shape solved for it (a new version of the solver may
    choose another) and every stage up to it; a later run resumes after the last stage whose key still
    matches, or from `from_stage`.
    """
    teacher, data = prepared.teacher, prepared.data
    stages = recipe.distill.resolved_stages
    distill_common = {k: v for k, v in recipe.to_dict()["distill"].items() if k != "stages"}
    planned = prepared.student_plan.dimensions if prepared.student_plan is not None else None
    folders, keys = stage_plan(recipe.distill, run_dir / f"student-{recipe.student.kind}",
                               run_key(prepared.logits_key, recipe.to_dict()["student"], distill_common, planned))
    done = resume_point(recipe.distill, folders, keys, from_stage)

    config_class, model_class = student_classes(recipe.student.kind)
    if done >= 0:
        kept = load_stage(folders[done])
        student = model_class(config_class(**kept.config))
        student.load_state_dict(kept.state)
        tokenizer, pad_token_id, shape, teacher_ids = kept.tokenizer, kept.pad_token_id, kept.shape, kept.teacher_ids
        reporter.step(f"student: reusing the {recipe.student.kind} after stage {done + 1} ({stages[done].name}) "
                      f"in {folders[done]}")
    else:
        built = build_student(teacher, prepared.encoder, data, recipe.student, reporter, recipe.data.task,
                              prepared.student_plan)
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
        student_encoder = TextEncoder(tokenizer, prepared.encoder.max_length, pad_token_id, casing_stride(student))
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


def gated_variants(staging: Path, encoder: TextEncoder, reference_logits: np.ndarray, data, recipe: Recipe,
                   reporter: Reporter, what: str) -> tuple[list, dict, dict]:
    """The parity gate of `staging/model.onnx` against PyTorch's test logits, then the recipe's variants,
    each gated, measured and chosen on the dev split (`variants.build_variants`), so that the test split
    stays unseen by every choice; then the shipped model's test metrics, the one test figure reported for
    it. Returns the variants table (dev scores), the parity record and the shipped model's test metrics."""
    task = recipe.data.task
    fp32 = Predictor(staging, threads=os.cpu_count(), unsealed=True)
    test_rows = prediction_rows(task, reference_logits, data.test.texts)
    difference = check_logit_parity(test_rows, prediction_rows(task, fp32.logits(data.test.texts), data.test.texts),
                                    recipe.export.atol, what)
    parity = {"fp32_max_abs_logit_difference": difference, "atol": recipe.export.atol,
              "min_agreement": recipe.export.min_agreement}
    calibration = (calibration_batches(encoder, data.transfer, recipe.export.calibration_size, recipe.data.seed)
                   if "int8-static" in recipe.export.variants else [])
    reporter.note(f"variants: fp32, {', '.join(v for v in recipe.export.variants if v != 'fp32') or 'none other'}; "
                  f"gate {recipe.export.min_agreement:.0%} agreement, tolerance {recipe.export.max_accuracy_drop:g}, "
                  f"chosen on the dev split ({len(data.dev.texts):,} rows)")
    variants = build_variants(staging, encoder, fp32.logits(data.dev.texts), data.dev.texts,
                              lambda logits: split_metrics(task, data.labels, data.dev, logits),
                              lambda logits: prediction_rows(task, logits, data.dev.texts),
                              primary_metric(task), calibration, recipe.export, reporter,
                              recipe.export.resolved_per_channel(recipe.student.kind))
    reporter.note(variant_summary(variants))
    shipped = Predictor(staging, threads=os.cpu_count(), unsealed=True).logits(data.test.texts)
    return variants, parity, split_metrics(task, data.labels, data.test, shipped)


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


def _budget_check(student: Predictor, recipe: Recipe, prepared: Prepared, reporter: Reporter) -> dict:
    """The shipped model timed at the --latency batch and length (random ids: latency depends on shape),
    against the budget and the solver's estimate. A miss is reported, not fatal: the estimate came from a
    cost model and the machine may be busy."""
    spec = parse_latency(recipe.student.latency)
    ids = np.random.default_rng(0).integers(1, 100, size=(spec.batch_size, spec.seq_len), dtype=np.int64)
    measured = median_ms(lambda: student.run(ids, np.ones_like(ids)), repeats=10, warmup=2)
    estimated = prepared.student_plan.shape.estimated_ms if prepared.student_plan is not None else None
    met = measured <= spec.milliseconds
    reporter.note(f"latency budget {spec}: shipped model measured {measured:.1f} ms"
                  + (f" (estimated {estimated:.1f} ms)" if estimated is not None else "")
                  + ("" if met else " [yellow]— over budget on this run; the machine may be busy, or the estimate "
                                    "off: measure with kdedge bench[/]"))
    return {"spec": str(spec), "milliseconds": spec.milliseconds, "measured_ms": measured, "estimated_ms": estimated,
            "met": met}


def describe_metrics(metrics: dict[str, float]) -> str:
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
        **({"casing_stride": encoder.casing_stride} if encoder.casing_stride else {}),
        "inputs": ["input_ids", "attention_mask"],
        "outputs": ["logits"],
        "teacher": {"name": teacher.name, "source": teacher.source, "params": teacher.params},
        "student": {"kind": recipe.student.kind, "params": student_params, "config": student.config.to_dict()},
        "compression": round(teacher.params / student_params, 3),
        "data": {"source": recipe.data.source, "train": len(data.train), "dev": len(data.dev),
                 "test": len(data.test), "transfer": len(data.transfer)},
        "recipe": recipe.to_dict(),
        "kdedge_version": __version__,
        "machine": cpu_summary(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }

