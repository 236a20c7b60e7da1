"""`kdedge extract`: an undistilled student, cut from the (fine-tuned) teacher and saved as a model folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from kdedge.errors import ConfigError
from kdedge.export.artifact import TOKENIZER_FILE, remove_abandoned
from kdedge.ownership import run_lock
from kdedge.pipeline.prepare import prepare
from kdedge.progress import Reporter
from kdedge.recipe import Recipe
from kdedge.students.build import build_student
from kdedge.teacher.loading import Teacher, count_params, quiet_transformers


def extract(recipe: Recipe, output: str | Path, run_dir: str | Path, reporter: Reporter | None = None) -> dict:
    """`_extract` with the run directory held for this run alone (`ownership.run_lock`)."""
    output = Path(output)
    if output.exists() and any(output.iterdir()):
        raise ConfigError(f"output folder {output} is not empty", hint="choose a new -o/--output folder")
    with run_lock(run_dir, "kdedge extract"):
        return _extract(recipe, output, run_dir, reporter)


def _extract(recipe: Recipe, output: str | Path, run_dir: str | Path, reporter: Reporter | None = None) -> dict:
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
    built = build_student(teacher, encoder, data, recipe.student, reporter, recipe.data.task, prepared.student_plan)
    params = count_params(built.model)
    reporter.step(f"{recipe.student.kind} student, init {recipe.student.resolved_init}: {params:,} parameters, "
                  f"{teacher.params / params:.1f}x fewer than the teacher")
    reporter.note(built.shape)
    remove_abandoned(output)
    partial = output.parent / f".{output.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
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
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # a failed extract leaves nothing behind
        raise
    return summary


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

