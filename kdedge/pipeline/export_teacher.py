"""`kdedge export-teacher`: the teacher itself as an artifact, the baseline a user would deploy without kdedge."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from kdedge import __version__
from kdedge.bench.machine import cpu_summary
from kdedge.data.batching import padded
from kdedge.data.tasks import TOKEN, load_data, split_metrics
from kdedge.export.artifact import MODEL_FILE, TOKENIZER_FILE, check_output, seal, staged_artifact, write_manifest
from kdedge.export.onnx import LogitsOnly, export_onnx, fuse_and_report
from kdedge.ownership import claim_run_dir, run_lock
from kdedge.pipeline.compress import gated_variants
from kdedge.pipeline.prepare import prepare_teacher
from kdedge.progress import Reporter
from kdedge.recipe import Recipe
from kdedge.students.transformer import SUPPORTED_MODEL_TYPES
from kdedge.teacher.labelling import model_logits
from kdedge.teacher.loading import load_teacher
from kdedge_runtime.encoding import TextEncoder


def export_teacher(recipe: Recipe, output: str | Path, run_dir: str | Path, reporter: Reporter | None = None) -> dict:
    """`_export_teacher` with the run directory held for this run alone (`ownership.run_lock`)."""
    check_output(Path(output), Path(run_dir))
    with run_lock(run_dir, "kdedge export-teacher"):
        return _export_teacher(recipe, output, run_dir, reporter)


def _export_teacher(recipe: Recipe, output: str | Path, run_dir: str | Path, reporter: Reporter | None = None) -> dict:
    """The teacher itself as an artifact (ONNX fp32, fused, plus the recipe's variants, same gates): the
    baseline a user would deploy without kdedge, served by the same runtime and measured by `kdedge bench`."""
    reporter = reporter or Reporter(quiet=True)
    output, run_dir = Path(output), Path(run_dir)
    check_output(output, run_dir)
    claim_run_dir(run_dir)
    task = recipe.data.task
    data = load_data(recipe.data, cache_dir=run_dir / "cache" / "datasets")
    torch.manual_seed(recipe.teacher.seed)
    teacher = load_teacher(recipe.teacher.name, data.labels, task=task)
    encoder = TextEncoder(teacher.tokenizer, recipe.data.max_length, teacher.pad_token_id)
    teacher, _ = prepare_teacher(teacher, encoder, data, recipe, run_dir, reporter)
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
            "machine": cpu_summary(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **({"fusion": fusion} if fusion is not None else {}),
        }
        write_manifest(staging, base)
        variants, parity, shipped_metrics = gated_variants(staging, encoder, torch_logits, data, recipe, reporter,
                                                           "the teacher's ONNX fp32 export")
        chosen = next(row for row in variants if row.chosen)
        manifest = seal(staging, {**base, "variant": chosen.variant, "variants": [row.to_dict() for row in variants],
                                  "metrics": {"teacher": split_metrics(task, data.labels, data.test, torch_logits),
                                              "student_onnx": shipped_metrics},
                                  "parity": parity})
    reporter.step(f"teacher artifact written to [bold]{output}[/]")
    return manifest

