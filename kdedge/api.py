"""The Python API: `kdedge.compress(...)` and `kdedge.bench(...)`, the CLI's commands as functions
(`kdedge.bench` is the bench stage package, callable as `kdedge.bench.runner.bench`).

    import kdedge

    result = kdedge.compress(teacher="minilm", data="reviews.csv", target="30x", output="artifacts/reviews")
    print(result.artifact_dir, result.metrics["student_onnx"])
    print(result.table())

    report = kdedge.bench([result.artifact_dir], against="minilm", batch_sizes=(1, 32), seq_lens=(128,))
    print(report.table())

The arguments mirror the command-line options (same names, same defaults) and the results are the
objects the CLI prints. `data` also takes an in-memory `datasets.Dataset` or `DatasetDict`. Errors are
`kdedge.KdedgeError` subclasses with a message and a hint.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdedge.errors import KdedgeError

if TYPE_CHECKING:  # pragma: no cover
    from kdedge.pipeline.result import CompressResult
    from kdedge.recipe import Recipe


def recipe_with_options(
    recipe: str | Path | Recipe | None = None,
    *,
    teacher: str | None = None,
    data: str | Path | Any | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    target: str | float | None = None,
    student: str | None = None,
    init: str | None = None,
    max_params: int | None = None,
    reconstruct: bool | None = None,
    latency: str | None = None,
    overrides: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
) -> Recipe:
    """The chosen recipe with the options applied, as `kdedge compress` does: the named options win over
    `overrides` (`"distill.epochs=3"` strings, read as YAML) and `values` (dotted keys, taken as given)."""
    from kdedge.data.sources import describe_source
    from kdedge.recipe import DEFAULT_RECIPE, Recipe, load_recipe, sibling_recipe

    own_data = data is not None and recipe is None
    if student is not None and not isinstance(recipe, Recipe):
        # a built-in recipe's sibling for that kind (same teacher and data): its learning rate, dropout and schedule
        recipe = sibling_recipe(str(recipe or DEFAULT_RECIPE), student) or recipe
    chosen = recipe if isinstance(recipe, Recipe) else load_recipe(None if recipe is None else str(recipe))
    if own_data:
        # a user's own data: the built-in recipe's column names, sizes and encoding do not apply
        chosen = chosen.with_values({"data.encoding": "utf-8", "data.text_column": "text", "data.label_column": "label",
                                     "data.train_size": None, "data.dev_size": 0.1, "data.test_size": 0.1})
    chosen = chosen.with_overrides(list(overrides or []))
    if values:
        chosen = chosen.with_values(dict(values))
    # the options name files, columns and models: taken as typed, never read as YAML
    options: dict[str, object] = {}
    if student is not None and student != chosen.student.kind:  # a recipe with no sibling for that kind
        options["description"] = f"{chosen.description} (student: {student})"
        if init is None:
            options["student.init"] = "auto"  # the recipe's init belongs to the other kind
    if student is not None and student != "bilstm":
        options["student.casing"] = False  # a BiLSTM input (ner-bilstm's); a Transformer has no casing table
    if max_params is not None and target is None:
        options["student.target"] = None
    if isinstance(target, (int, float)) and not isinstance(target, bool):
        target = f"{target:g}x"
    for key, value in (("teacher.name", teacher), ("data.source", data), ("data.text_column", text_column),
                       ("data.label_column", label_column), ("student.target", target), ("student.kind", student),
                       ("student.init", init), ("student.max_params", max_params), ("student.reconstruct", reconstruct),
                       ("student.latency", latency)):
        if value is not None:
            options[key] = value
    renamed = any(o.partition("=")[0].strip() == "name" for o in overrides or []) or "name" in (values or {})
    if data is not None and not renamed:
        name, description = describe_source(data)
        options.update({"name": name, "description": description})
    return chosen.with_values(options)


def compress(
    recipe: str | Path | Recipe | None = None,
    *,
    teacher: str | None = None,
    data: str | Path | Any | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    target: str | float | None = None,
    student: str | None = None,
    init: str | None = None,
    max_params: int | None = None,
    reconstruct: bool | None = None,
    latency: str | None = None,
    output: str | Path | None = None,
    run_dir: str | Path | None = None,
    overrides: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
    from_stage: str | None = None,
    log_with: str | Sequence[str] | None = None,
    logging_dir: str | Path | None = None,
    quiet: bool | None = None,
) -> CompressResult | None:
    """Distil, export, gate and write an artifact: `kdedge compress` as a function.

    `recipe`: a built-in name, a YAML path or a `Recipe`; `data`: a file, a hub id (`glue:sst2`), a
    `save_to_disk` folder or an in-memory `datasets.Dataset`/`DatasetDict`; `target`: `"30x"` or 30;
    `latency`: `"5ms@32x128"`, the shipped student's batch latency on this machine (with `target`);
    `overrides`: `--set` strings; `values`: dotted recipe keys with Python values; `log_with`: an
    experiment tracker (`tensorboard`, `wandb`, `mlflow`, ...). `output` and `run_dir` default to
    `artifacts/NAME` and `runs/NAME`; trackers write under `logging_dir` (default RUN_DIR/logs). Returns
    the artifact folder, its manifest and metrics (None in a helper process under `accelerate launch`).
    Progress (stages, bars) prints to stderr when it is a terminal (`quiet=None`, the default; `True`
    silences it, `False` prints it anywhere) and goes to the `kdedge` logger always.
    """
    from kdedge.data.sources import is_in_memory, materialise
    from kdedge.progress import Reporter
    from kdedge.tracking import tracking

    if is_in_memory(data):  # saved once into the run folder, then read like any save_to_disk folder
        from kdedge.ownership import claim_run_dir

        folder = claim_run_dir(Path(run_dir) if run_dir is not None else Path("runs") / "dataset")
        data = materialise(data, folder / "datasets")
    chosen = recipe_with_options(recipe, teacher=teacher, data=data, text_column=text_column,
                                 label_column=label_column, target=target, student=student, init=init,
                                 max_params=max_params, reconstruct=reconstruct, latency=latency, overrides=overrides,
                                 values=values)
    if chosen.multitask and (teacher is not None or data is not None):
        raise KdedgeError("--teacher and --data do not apply to a multi-task recipe",
                          hint="each task's teacher and data come from the recipe it names under `tasks`")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    output = Path(output) if output is not None else Path("artifacts") / chosen.name
    run_dir = Path(run_dir) if run_dir is not None else Path("runs") / chosen.name
    logging_dir = Path(logging_dir) if logging_dir is not None else run_dir / "logs"
    with tracking(log_with, logging_dir, chosen.name, chosen.to_dict()) as tracker:
        reporter = Reporter(quiet=not sys.stderr.isatty() if quiet is None else quiet, tracker=tracker)
        if chosen.multitask:
            from kdedge.pipeline.multitask import compress_multitask as run
        else:
            from kdedge.pipeline.compress import compress as run
        result = run(chosen, output=output, run_dir=run_dir, reporter=reporter, from_stage=from_stage)
        if result is not None:
            from kdedge.report import final_values

            reporter.log(final_values(result.manifest))
    return result

