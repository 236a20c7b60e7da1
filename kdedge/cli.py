"""The `kdedge` command line: thin wrappers around library functions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from kdedge.errors import KdedgeError

app = typer.Typer(
    help="Distil BERT-family teachers into small BiLSTM or tiny-Transformer students, quantize and export them "
    "for CPU serving.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _fail(error: BaseException, debug: bool) -> None:
    console = Console(stderr=True)
    if debug:
        console.print_exception()
    if isinstance(error, KdedgeError):
        console.print(f"[bold red]error:[/] {error.message}" + (f" — {error.hint}" if error.hint else ""),
                      highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    if isinstance(error, KeyboardInterrupt):
        console.print("[bold red]interrupted[/] — stages already finished are kept in the run directory")
        raise typer.Exit(130)
    console.print(f"[bold red]internal error:[/] {type(error).__name__}: {error} — rerun with --debug for the "
                  "traceback and report it", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command()
def compress(
    recipe: Annotated[Optional[str], typer.Option(help="Built-in recipe name or YAML path (default: sentiment-bilstm).")] = None,
    teacher: Annotated[Optional[str], typer.Option(help="Teacher: alias (minilm, bert-base), local model folder or hub id.")] = None,
    data: Annotated[Optional[str], typer.Option(help="Labelled data file: .csv, .tsv, .jsonl or .parquet.")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Column holding the text.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Column holding the label.")] = None,
    target: Annotated[Optional[str], typer.Option(help="Compression ratio, teacher/student parameters, e.g. 30x.")] = None,
    student: Annotated[Optional[str], typer.Option(help="Student kind: bilstm or transformer.")] = None,
    init: Annotated[Optional[str], typer.Option(help="Student initialisation: pca (BiLSTM), etd-impt, etd-rand (Transformer), random.")] = None,
    max_params: Annotated[Optional[int], typer.Option(help="Cap the student's parameters instead of --target.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Artifact folder to write (default: artifacts/RECIPE).")] = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Working folder for reusable stages (default: runs/RECIPE).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override any recipe field: --set distill.epochs=3 (repeatable).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the closing table.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Distil a teacher into a student and write a served-ready artifact (model.onnx, tokenizer.json, kdedge.json).

    With no options this runs the built-in default: the packaged MiniLM teacher, fine-tuned on 4,000
    labelled tweets, distilled through ~30,000 unlabelled tweets into a 30x smaller BiLSTM, offline.
    """
    try:
        from kdedge.pipeline import compress as run_compress
        from kdedge.progress import Reporter
        from kdedge.recipe import load_recipe
        from kdedge.report import compression_table

        chosen = _recipe_with_options(recipe, set_, teacher, data, text_column, label_column, target, student, init,
                                      max_params)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        reporter = Reporter(quiet=quiet)
        result = run_compress(
            chosen,
            output=output or Path("artifacts") / chosen.name,
            run_dir=run_dir or Path("runs") / chosen.name,
            reporter=reporter,
        )
        Console().print(compression_table(result.manifest, result.seconds))
    except (KdedgeError, KeyboardInterrupt, Exception) as error:
        if isinstance(error, typer.Exit):
            raise
        _fail(error, debug)


@app.command("extract")
def extract_command(
    teacher: Annotated[str, typer.Argument(help="Teacher: alias (minilm, bert-base), local model folder or hub id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the extracted student (save_pretrained).")],
    student: Annotated[str, typer.Option(help="Student kind: transformer or bilstm.")] = "transformer",
    target: Annotated[Optional[str], typer.Option(help="Compression ratio, e.g. 30x.")] = None,
    max_params: Annotated[Optional[int], typer.Option(help="Cap the student's parameters instead of --target.")] = None,
    init: Annotated[str, typer.Option(help="etd-impt (by importance), etd-rand (uniform/random), random; pca for a BiLSTM.")] = "auto",
    recipe: Annotated[Optional[str], typer.Option(help="Recipe whose data scores importance and picks the vocabulary.")] = None,
    data: Annotated[Optional[str], typer.Option(help="Own data file instead of the recipe's.")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Column holding the text.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Column holding the label.")] = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Working folder (a fine-tuned teacher is kept and reused here).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override any recipe field (repeatable).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Extract a student from a teacher's own weights, without distilling it (Extract Then Distill).

    ETD-Impt keeps the layers, attention heads, head dimensions, FFN neurons and hidden dimensions with
    the highest gradient importance on the recipe's data, and its most frequent tokens; the result is a
    standard Hugging Face model folder. A teacher without a trained head is fine-tuned first.
    """
    try:
        from kdedge.pipeline import extract
        from kdedge.progress import Reporter

        chosen = _recipe_with_options(recipe, set_, teacher, data, text_column, label_column, target, student, init,
                                      max_params)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        summary = extract(chosen, output, run_dir or Path("runs") / chosen.name, Reporter(quiet=quiet))
        Console().print(f"extracted a {summary['kind']} student ({summary['params']:,} parameters, "
                        f"{summary['compression']:.1f}x smaller) to {output}")
    except (KdedgeError, KeyboardInterrupt, Exception) as error:
        if isinstance(error, typer.Exit):
            raise
        _fail(error, debug)


def _recipe_with_options(recipe, set_, teacher, data, text_column, label_column, target, student, init, max_params):
    """The chosen recipe with the command line's options applied (explicit options win over --set)."""
    from kdedge.recipe import load_recipe

    chosen = load_recipe(recipe)
    overrides = list(set_ or [])
    if student is not None and init is None:
        overrides.append("student.init=auto")  # the recipe's init may belong to the other kind
    if max_params is not None and target is None:
        overrides.append("student.target=null")
    for key, value in (("teacher.name", teacher), ("data.source", data), ("data.text_column", text_column),
                       ("data.label_column", label_column), ("student.target", target), ("student.kind", student),
                       ("student.init", init), ("student.max_params", max_params)):
        if value is not None:
            overrides.append(f"{key}={value}")
    if data is not None and not any(o.startswith("name=") for o in overrides):
        overrides += [f"name={Path(data).stem}", f"description=own data from {Path(data).name}"]
    if data is not None and recipe is None:
        # a user's own file: the built-in recipe's column names, sizes and encoding do not apply
        overrides = [f"data.{k}={v}" for k, v in (("encoding", "utf-8"), ("text_column", "text"),
                     ("label_column", "label"), ("train_size", "null"), ("dev_size", 0.1),
                     ("test_size", 0.1))] + overrides
    return chosen.with_overrides(overrides)


@app.command("recipes")
def list_recipes() -> None:
    """List the built-in recipes, one line each."""
    from kdedge.recipe import DEFAULT_RECIPE, builtin_recipes, load_recipe

    table = Table(show_header=True, box=None)
    table.add_column("recipe")
    table.add_column("description")
    for name, path in builtin_recipes().items():
        description = load_recipe(path).description
        table.add_row(name + (" (default)" if name == DEFAULT_RECIPE else ""), description)
    Console().print(table)


def main() -> None:  # pragma: no cover - console entry point
    app()
