"""Multi-task `compress` (MKD): several tasks, one teacher each, one student with a shared encoder.

Each task is prepared exactly as a single-task run (its data split, its teacher fine-tuned once and
its outputs cached, in `run_dir/tasks/<name>`), so a task's teacher and cache are shared with a
single-task run of the same recipe. The student is sized and initialised from the first task's
teacher, its vocabulary drawn from every task's transfer set; the teachers must share one tokenizer.
The stages of the recipe then train all tasks at once, one batch of one task per step
(`distill.task_sampling`), with early stopping on the mean of the tasks' dev scores. The artifact is
one ONNX model with one output per task (`logits_<task>`), gated and quantized like a single-task one.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from kdedge import __version__
from kdedge.bench.machine import cpu_summary
from kdedge.data.batching import padded
from kdedge.data.intervals import accuracy_intervals, majority_baseline, multitask_quality
from kdedge.data.tasks import TOKEN, gather_words, prediction_rows, primary_metric, split_metrics
from kdedge.distill.kept_stages import (
    KeptStudent,
    load_stage,
    resume_point,
    run_key,
    save_stage,
    stage_plan,
    stage_results,
)
from kdedge.distill.loop import OnlineTeacher, StageTask, distill_tasks, resolve_layer_pairs
from kdedge.distill.scale import Scale
from kdedge.errors import ConfigError
from kdedge.export.artifact import MODEL_FILE, TOKENIZER_FILE, check_output, seal, staged_artifact, write_manifest
from kdedge.export.latency import median_ms, torch_runner
from kdedge.export.onnx import check_logit_parity, export_onnx, fuse_and_report
from kdedge.export.variants import build_variants, calibration_batches, variant_summary
from kdedge.ownership import claim_run_dir, run_lock
from kdedge.pipeline.prepare import Prepared, distill_sets, prepare
from kdedge.pipeline.result import CompressResult
from kdedge.progress import Reporter
from kdedge.recipe import Recipe, task_recipes
from kdedge.students import student_classes
from kdedge.students.build import build_student, casing_stride, plan_shape
from kdedge.students.multitask import MultiTaskStudent, TaskSpec
from kdedge.teacher.loading import count_params
from kdedge_runtime import Predictor
from kdedge_runtime.encoding import TextEncoder

MEAN_SCORE = "mean_task_score"  # the variants' metric: the mean of each task's primary test metric


def compress_multitask(recipe: Recipe, output: str | Path, run_dir: str | Path, reporter: Reporter | None = None,
                       task_run_dirs: dict[str, Path] | None = None,
                       from_stage: str | None = None) -> CompressResult | None:
    """`_compress_multitask` with the run directory held for this run alone (`ownership.run_lock`)."""
    check_output(Path(output), Path(run_dir))
    with run_lock(run_dir, "kdedge compress (multi-task)"):
        return _compress_multitask(recipe, output, run_dir, reporter, task_run_dirs, from_stage)


def _compress_multitask(recipe: Recipe, output: str | Path, run_dir: str | Path, reporter: Reporter | None = None,
                        task_run_dirs: dict[str, Path] | None = None,
                        from_stage: str | None = None) -> CompressResult | None:
    """Distil a multi-task recipe into one artifact. `task_run_dirs` can point a task at the run
    directory of a single-task run of the same recipe, to reuse its teacher and cache. Finished
    stages are kept in `run_dir/student-multitask-KIND/` and reused as in a single-task run
    (`from_stage` reruns from a named stage). Under
    `accelerate launch` with several processes, only the main one writes the artifact (the others
    return None)."""
    reporter = reporter or Reporter(quiet=True)
    started = time.perf_counter()
    output, run_dir = Path(output), Path(run_dir)
    check_output(output, run_dir)
    claim_run_dir(run_dir)
    singles = task_recipes(recipe)
    scale = Scale.create(recipe.distill.mixed_precision)
    if not scale.is_main:
        reporter = Reporter(quiet=True)
    prepared: dict[str, Prepared] = {}
    for name, single in singles.items():
        reporter.step(f"task [bold]{name}[/] ({single.data.task}, recipe {recipe_source(recipe, name)})")
        folder = (task_run_dirs or {}).get(name, run_dir / "tasks" / name)
        def work(single=single, folder=folder):
            # the shared student is sized over every task's texts, later: not per task here
            return prepare(single, folder, reporter, device=scale.device, check_student=False)

        prepared[name] = scale.main_first(work)
    names = list(prepared)
    first = prepared[names[0]]
    _check_shared_tokenizer(prepared)
    max_length = max(p.encoder.max_length for p in prepared.values())
    encoder = TextEncoder(first.teacher.tokenizer, max_length, first.teacher.pad_token_id)
    specs = [TaskSpec(name, singles[name].data.task, tuple(prepared[name].data.labels)) for name in names]

    union = list(dict.fromkeys(text for p in prepared.values() for text in p.data.transfer))
    stages = recipe.distill.resolved_stages
    values = recipe.to_dict()
    distill_common = {k: v for k, v in values["distill"].items() if k != "stages"}
    sizing_data = dataclasses.replace(first.data, transfer=union)
    plan = plan_shape(first.teacher, encoder, sizing_data, recipe.student, task=specs[0].task)
    base_key = run_key([(name, p.logits_key) for name, p in prepared.items()], values["student"], distill_common,
                       values["tasks"], plan.dimensions)
    folders, keys = stage_plan(recipe.distill, run_dir / f"student-multitask-{recipe.student.kind}", base_key)
    done = resume_point(recipe.distill, folders, keys, from_stage)
    if done >= 0:
        kept = load_stage(folders[done])
        config_class, model_class = student_classes(recipe.student.kind)
        single_config = config_class(**kept.config)
        student = MultiTaskStudent(model_class(single_config), specs, recipe.student.dropout)
        student.load_state_dict(kept.state)
        tokenizer, pad_token_id, shape, teacher_ids = kept.tokenizer, kept.pad_token_id, kept.shape, kept.teacher_ids
        reporter.step(f"student: reusing the multi-task {recipe.student.kind} after stage {done + 1} "
                      f"({stages[done].name}) in {folders[done]}")
    else:
        built = build_student(first.teacher, encoder, sizing_data, recipe.student, reporter, specs[0].task, plan)
        single_config = built.model.config
        student = MultiTaskStudent(built.model, specs, recipe.student.dropout)
        tokenizer, pad_token_id, shape, teacher_ids = built.tokenizer, built.pad_token_id, built.shape, built.teacher_ids
    params = count_params(student)
    reporter.step(f"multi-task {recipe.student.kind} student: {params:,} parameters for {len(names)} tasks, "
                  f"{first.teacher.params / params:.1f}x fewer than one teacher "
                  f"({sum(p.teacher.params for p in prepared.values()) / params:.1f}x fewer than all "
                  f"{len(names)}; init {recipe.student.resolved_init})")
    reporter.note(shape)
    student_encoder = TextEncoder(tokenizer, max_length, pad_token_id, casing_stride(student.encoder))

    def keep(number: int, outcome) -> None:
        if scale.is_main:
            kept = KeptStudent(single_config.to_dict(), student.state_dict(), tokenizer, pad_token_id, shape,
                               teacher_ids)
            save_stage(folders[number], keys[number], kept, outcome)

    if done < len(stages) - 1:
        tasks, online = [], []
        student_depth = len(student.layer_groups()) - 2
        online_ids = torch.from_numpy(teacher_ids).long() if teacher_ids is not None else None
        for name in names:
            train, dev = distill_sets(prepared[name], singles[name])
            teacher = prepared[name].teacher
            attention = any(stage.losses.attention > 0 for stage in stages)
            helper = OnlineTeacher(teacher.model, online_ids) if attention else None
            if helper is not None:
                online.append(helper)
            pairs = resolve_layer_pairs(recipe.distill, student_depth, teacher.model.config.num_hidden_layers)
            tasks.append(StageTask(name, student.view(name), train, dev, pairs, helper))
        reporter.note(f"training on {scale.describe()}")
        try:
            distill_tasks(student, student_encoder, tasks, recipe.distill, reporter, keep, done + 1, scale)
        finally:
            for helper in online:
                helper.restore()
                helper.model.to("cpu")
            student.to("cpu")  # evaluation, export and the artifact are on the CPU
        scale.wait()  # every stage is kept before any process reads the history
    if not scale.is_main:
        return None
    history = stage_results(folders)

    texts, evaluate, rows_of = _split_views(specs, {name: prepared[name].data.test for name in names})
    dev_texts, evaluate_dev, dev_rows_of = _split_views(specs, {name: prepared[name].data.dev for name in names})
    torch_logits = multitask_logits(student, student_encoder, texts)
    student_metrics = evaluate(torch_logits)
    teacher_metrics = {}
    for spec in specs:
        scores = split_metrics(spec.task, spec.labels, prepared[spec.name].data.test,
                               prepared[spec.name].teacher_logits["test"])
        teacher_metrics.update({f"{spec.name}.{key}": value for key, value in scores.items()})
    teacher_metrics[MEAN_SCORE] = float(np.mean([teacher_metrics[f"{s.name}.{primary_metric(s.task)}"]
                                                 for s in specs]))
    for spec in specs:
        metric = f"{spec.name}.{primary_metric(spec.task)}"
        reporter.note(f"{spec.name}: teacher test {primary_metric(spec.task)} {teacher_metrics[metric]:.4f}, "
                      f"student {student_metrics[metric]:.4f} "
                      f"({student_metrics[metric] / max(teacher_metrics[metric], 1e-12):.1%} of the teacher)")

    reporter.step("exporting to ONNX (one output per task), quantizing, checking parity")
    outputs = {f"logits_{spec.name}": spec.task == TOKEN for spec in specs}
    with staged_artifact(output) as staging:
        tokenizer.save(str(staging / TOKENIZER_FILE))
        sample = padded(student_encoder, student_encoder.encode_words(texts[:2] or ["sample"])[0])
        export_onnx(student, staging / MODEL_FILE, recipe.export.opset, sample, outputs=outputs)
        fusion = None
        if recipe.student.kind == "transformer":  # no config.json: no Hugging Face class has one head per task
            fusion = fuse_and_report(staging / MODEL_FILE, single_config.num_heads, single_config.hidden_size,
                                     reporter)
        base = {
            "task": "multi-task", "labels": [],
            "tasks": [{"name": s.name, "task": s.task, "labels": list(s.labels), "output": f"logits_{s.name}"}
                      for s in specs],
            "max_length": max_length, "pad_token_id": student_encoder.pad_token_id,
            **({"casing_stride": student_encoder.casing_stride} if student_encoder.casing_stride else {}),
            "inputs": ["input_ids", "attention_mask"], "outputs": list(outputs),
            "teacher": {name: {"name": p.teacher.name, "source": p.teacher.source, "params": p.teacher.params}
                        for name, p in prepared.items()},
            "student": {"kind": f"multitask-{recipe.student.kind}", "params": params,
                        "config": student.config.to_dict()},
            "compression": round(first.teacher.params / params, 3),
            "compression_vs_all_teachers": round(sum(p.teacher.params for p in prepared.values()) / params, 3),
            "data": {name: {"source": singles[name].data.source, "train": len(p.data.train), "dev": len(p.data.dev),
                            "test": len(p.data.test), "transfer": len(p.data.transfer)} for name, p in prepared.items()},
            "recipe": recipe.to_dict(), "kdedge_version": __version__,
            "machine": cpu_summary(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **({"fusion": fusion} if fusion is not None else {}),
        }
        write_manifest(staging, base)
        fp32 = Predictor(staging, threads=os.cpu_count(), unsealed=True)
        fp32_logits = fp32.logits(texts)
        difference = check_logit_parity(rows_of(torch_logits), rows_of(fp32_logits), recipe.export.atol,
                                        "the ONNX fp32 export")
        calibration = (calibration_batches(student_encoder, union, recipe.export.calibration_size, recipe.data.seed)
                       if "int8-static" in recipe.export.variants else [])
        # gated and chosen on the tasks' dev splits; the test splits are read once, for what ships
        variants = build_variants(staging, student_encoder, fp32.logits(dev_texts), dev_texts, evaluate_dev,
                                  dev_rows_of, MEAN_SCORE, calibration, recipe.export, reporter,
                                  recipe.export.resolved_per_channel(recipe.student.kind))
        reporter.note(variant_summary(variants))
        chosen = next(row for row in variants if row.chosen)
        shipped = Predictor(staging, threads=os.cpu_count(), unsealed=True)
        metrics = {"teacher": teacher_metrics, "student": student_metrics,
                   "student_onnx": evaluate(shipped.logits(texts))}
        intervals = accuracy_intervals(metrics, {name: len(prepared[name].data.test.texts) for name in names})
        quality = multitask_quality(metrics, intervals, recipe.export.quality_bar, {
            spec.name: (primary_metric(spec.task), len(prepared[spec.name].data.test.texts),
                        len(prepared[spec.name].data.transfer)) for spec in specs}, {
            spec.name: (majority_baseline(prepared[spec.name].data.test.labels, tuple(prepared[spec.name].data.labels)),
                        len(prepared[spec.name].data.train)) for spec in specs if spec.task != TOKEN})
        latency = _latency(prepared, student_encoder, shipped, texts, reporter)
        manifest = seal(staging, {
            **base, "variant": chosen.variant, "variants": [row.to_dict() for row in variants], "metrics": metrics,
            "intervals": intervals, "quality": quality.to_dict(),
            "parity": {"fp32_max_abs_logit_difference": difference, "atol": recipe.export.atol,
                       "min_agreement": recipe.export.min_agreement},
            "latency_ms_batch32": latency,
            "disk_bytes": {"student_onnx": (staging / MODEL_FILE).stat().st_size},
            "training": {"shape": shape, "hardware": scale.describe(), "history": history},
        })
    reporter.step(f"artifact written to [bold]{output}[/]")
    if quality.warning:
        reporter.note(f"[yellow]warning:[/] {quality.warning}")
    return CompressResult(output, manifest, latency, time.perf_counter() - started)


def recipe_source(recipe: Recipe, name: str) -> str:
    return next(task.recipe for task in recipe.tasks if task.name == name)


@torch.no_grad()
def multitask_logits(student: MultiTaskStudent, encoder: TextEncoder, texts: list[str],
                     batch_size: int = 256) -> dict[str, np.ndarray]:
    """Every task's logits for `texts`, computed as the runtime computes them: one pass per batch over
    the texts tokenized by words; per-word rows (first sub-token) for token tasks."""
    student.eval()
    id_lists, firsts = encoder.encode_words(texts)
    results = {}
    for spec in student.config.tasks:
        shape = (len(texts), encoder.max_length, len(spec.labels)) if spec.task == TOKEN else (
            len(texts), len(spec.labels))
        results[spec.name] = np.zeros(shape, dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(id_lists[i]))
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        input_ids, attention_mask = padded(encoder, [id_lists[i] for i in indices])
        for spec, logits in zip(student.config.tasks, student(input_ids, attention_mask), strict=True):
            if spec.task == TOKEN:
                words = gather_words(logits, [firsts[i] for i in indices])[0].numpy()
                results[spec.name][indices, : words.shape[1]] = words
            else:
                results[spec.name][indices] = logits.numpy()
    return results


def _stacked_rows(parts: list[np.ndarray]) -> np.ndarray:
    """Prediction rows of tasks with different label counts in one matrix, for the agreement gate: each
    task's rows padded on the right with a constant far below any logit (it never wins an argmax and
    adds no difference)."""
    width = max(part.shape[1] for part in parts)
    padded_parts = [np.pad(part, ((0, 0), (0, width - part.shape[1])), constant_values=-1e9) for part in parts]
    return np.concatenate(padded_parts) if padded_parts else np.zeros((0, 0), dtype=np.float32)


def _check_shared_tokenizer(prepared: dict[str, Prepared]) -> None:
    names = list(prepared)
    reference = prepared[names[0]].teacher.tokenizer.get_vocab(with_added_tokens=True)
    for name in names[1:]:
        if prepared[name].teacher.tokenizer.get_vocab(with_added_tokens=True) != reference:
            raise ConfigError(
                f"the teachers of tasks {names[0]!r} and {name!r} use different tokenizers; one student reads one",
                hint="fine-tune every task's teacher from the same base model (e.g. teacher.name: minilm in each)",
            )


def _latency(prepared: dict[str, Prepared], student_encoder: TextEncoder, student: Predictor, texts: list[str],
             reporter: Reporter) -> dict:
    """Every teacher (PyTorch fp32: serving all tasks without kdedge) vs the one student (ONNX) on a batch."""
    batch = (texts * (32 // max(len(texts), 1) + 1))[:32]
    teacher_ms = {}
    for name, p in prepared.items():
        input_ids, attention_mask = padded(p.encoder, p.encoder.encode(batch))
        teacher_ms[name] = median_ms(torch_runner(p.teacher.model, input_ids, attention_mask))
    ids, mask = student_encoder.pad(student_encoder.encode_words(batch)[0])
    student_ms = median_ms(lambda: student.run_all(ids, mask), repeats=20, warmup=3)
    total = sum(teacher_ms.values())
    reporter.note(f"batch 32: teachers {' + '.join(f'{ms:.1f}' for ms in teacher_ms.values())} ms, "
                  f"student {student_ms:.2f} ms for all tasks ({total / student_ms:.0f}x faster)")
    return {"batch_size": 32, "teachers_torch_fp32": teacher_ms, "teacher_torch_fp32": total,
            "student_onnx": student_ms, "threads": torch.get_num_threads()}


def _split_views(specs, splits: dict) -> tuple[list[str], Callable, Callable]:
    """One split of every task as one list of texts (task after task), with its metrics (each task's,
    prefixed `task.`, and their mean) and its gate rows from logits over that list."""
    texts = [text for spec in specs for text in splits[spec.name].texts]
    slices, start = {}, 0
    for spec in specs:
        slices[spec.name] = slice(start, start + len(splits[spec.name].texts))
        start = slices[spec.name].stop

    def evaluate(logits: dict[str, np.ndarray]) -> dict[str, float]:
        metrics = {}
        for spec in specs:
            scores = split_metrics(spec.task, spec.labels, splits[spec.name], logits[spec.name][slices[spec.name]])
            metrics.update({f"{spec.name}.{key}": value for key, value in scores.items()})
        metrics[MEAN_SCORE] = float(np.mean([metrics[f"{s.name}.{primary_metric(s.task)}"] for s in specs]))
        return metrics

    def rows_of(logits: dict[str, np.ndarray]) -> np.ndarray:
        return _stacked_rows([prediction_rows(spec.task, logits[spec.name][slices[spec.name]],
                                              splits[spec.name].texts) for spec in specs])

    return texts, evaluate, rows_of
