"""The `kdedge` command line: thin wrappers around library functions."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from kdedge.errors import ConfigError, KdedgeError
from kdedge_runtime.errors import KdedgeRuntimeError

app = typer.Typer(
    help="Distil BERT-family teachers into small BiLSTM or tiny-Transformer students, quantize and export them "
    "for CPU serving.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from kdedge import __version__
        from kdedge_runtime import __version__ as runtime_version

        Console().print(f"kdedge {__version__} (kdedge-runtime {runtime_version})", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print kdedge's version (and its runtime's) and exit.")] = False,
) -> None:
    """Distil BERT-family teachers into small BiLSTM or tiny-Transformer students, quantize and export them
    for CPU serving."""


def _fail(error: BaseException, debug: bool) -> None:
    console = Console(stderr=True)
    if debug:
        console.print_exception()
    if isinstance(error, KdedgeError):
        console.print(f"[bold red]error:[/] {error.message}" + (f" — {error.hint}" if error.hint else ""),
                      highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    if isinstance(error, KdedgeRuntimeError):  # the runtime's user errors (its messages carry the fix)
        console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    if isinstance(error, KeyboardInterrupt):
        console.print("[bold red]interrupted[/] — stages already finished are kept in the run directory")
        raise typer.Exit(130)
    console.print(f"[bold red]internal error:[/] {type(error).__name__}: {error} — rerun with --debug for the "
                  "traceback and report it", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@contextmanager
def _one_line_errors(debug: bool):
    """Every command: a KdedgeError (or the runtime's KdedgeRuntimeError) becomes one line and exit 2,
    anything else one line and exit 1."""
    try:
        yield
    except typer.Exit:
        raise
    except (Exception, KeyboardInterrupt) as error:
        _fail(error, debug)


@app.command()
def compress(
    recipe: Annotated[Optional[str], typer.Option(help="Built-in recipe name or YAML path (default: sentiment-bilstm, or sentiment-transformer with --student transformer).")] = None,
    teacher: Annotated[Optional[str], typer.Option(help="Teacher: alias (minilm, bert-base), local model folder or hub id.")] = None,
    data: Annotated[Optional[str], typer.Option(help="Labelled data: a .csv/.tsv/.jsonl/.parquet file, a Dataset.save_to_disk folder, or a hub dataset NAME[:CONFIG][@SPLIT] (e.g. glue:sst2).")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Column holding the text.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Column holding the label.")] = None,
    target: Annotated[Optional[str], typer.Option(help="Compression ratio, teacher/student parameters, e.g. 30x. Without --latency the shape is the cheapest of the best expected quality by a committed cost model (the same on every machine; --set student.shape_by=parameters for the best quality whatever it costs).")] = None,
    student: Annotated[Optional[str], typer.Option(help="Student kind: bilstm, transformer, or bag (a bag of token and bigram embeddings: the fastest, whole-text classification only). On a built-in recipe, its sibling for that kind (same teacher and data: ner-bilstm -> ner-transformer, sentiment-bilstm -> sentiment-bag), with that kind's learning rate and dropout.")] = None,
    init: Annotated[Optional[str], typer.Option(help="Student initialisation: pca (BiLSTM, bag), teacher-pass (bag: the teacher's output for each token alone, as Model2Vec), etd-impt, etd-rand (Transformer), random.")] = None,
    max_params: Annotated[Optional[int], typer.Option(help="Cap the student's parameters instead of --target.")] = None,
    reconstruct: Annotated[Optional[bool], typer.Option("--reconstruct/--no-reconstruct", help="Re-fit an extracted Transformer's layers to the teacher's activations by least squares before distilling (default: on).")] = None,
    latency: Annotated[Optional[str], typer.Option(help="Latency budget on this machine, e.g. 5ms@32x128 (a batch of 32 texts of 128 tokens): the best student of the --target size whose estimated latency meets it; refused with the fastest reachable otherwise.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Artifact folder to write (default: artifacts/RECIPE).")] = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Working folder for reusable stages (default: runs/RECIPE).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override any recipe field: --set distill.epochs=3 (repeatable).")] = None,
    from_stage: Annotated[Optional[str], typer.Option(help="Rerun this distillation stage (by name) and the ones after it, starting from the stage before it in --run-dir.")] = None,
    log_with: Annotated[Optional[str], typer.Option(help="Record losses, learning rates, dev metrics and the final table with an experiment tracker: tensorboard (offline), wandb, mlflow, ... (comma-separated for several).")] = None,
    logging_dir: Annotated[Optional[Path], typer.Option(help="Where --log-with trackers write (default: RUN_DIR/logs).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the closing table.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit with status 3 (after writing the artifact) when the student keeps less than export.quality_bar of the teacher's test metric, the test split is too small to tell, or the teacher itself is no better than always answering the most common label: for CI pipelines.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result (the artifact's kdedge.json, with its folder and the run's seconds) as JSON on stdout instead of the tables; progress still goes to stderr unless --quiet.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Distil a teacher into a student and write a served-ready artifact (model.onnx, tokenizer.json, kdedge.json).

    With no options this runs the built-in default: the packaged MiniLM teacher, fine-tuned on 4,000
    labelled tweets, distilled through ~30,000 unlabelled tweets into a 30x smaller BiLSTM, offline.
    Every finished stage (fine-tuned teacher, teacher outputs, each distillation stage) is kept in
    --run-dir; running again resumes after the last one whose inputs did not change.

    A multi-task recipe (`--recipe multitask-bilstm`: sentiment and NER) distils one student with a
    shared encoder and one head per task; the artifact answers every task in one pass.

    Training uses the GPU when there is one; `accelerate launch -m kdedge compress ...` runs it on
    several GPUs or processes (distill.mixed_precision sets bf16/fp16 autocast).
    """
    with _one_line_errors(debug):
        from kdedge.api import compress as run_compress
        from kdedge.report import compression_table, multitask_table, variants_table

        result = run_compress(recipe, teacher=teacher, data=data, text_column=text_column, label_column=label_column,
                              target=target, student=student, init=init, max_params=max_params,
                              reconstruct=reconstruct, latency=latency, output=output, run_dir=run_dir,
                              overrides=list(set_ or []),
                              from_stage=from_stage, log_with=log_with, logging_dir=logging_dir, quiet=quiet)
        if result is None:  # a helper process under `accelerate launch`: the main one reports
            return
        if json_output:
            record = {"artifact": str(result.artifact_dir), "seconds": result.seconds, "manifest": result.manifest}
            sys.stdout.write(json.dumps(record, indent=2) + "\n")
        else:
            if result.manifest.get("tasks"):
                Console().print(multitask_table(result.manifest, result.seconds))
            else:
                Console().print(compression_table(result.manifest, result.seconds))
            table = variants_table(result.manifest)
            if table is not None and not quiet:
                Console().print(table)
        warning = result.manifest.get("quality", {}).get("warning")
        if warning:
            Console(stderr=True).print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
            if strict:
                raise typer.Exit(3)


@app.command("export-teacher")
def export_teacher_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Artifact folder to write.")],
    recipe: Annotated[Optional[str], typer.Option(help="Built-in recipe name or YAML path (default: sentiment-bilstm).")] = None,
    teacher: Annotated[Optional[str], typer.Option(help="Teacher: alias (minilm, bert-base), local model folder or hub id.")] = None,
    data: Annotated[Optional[str], typer.Option(help="Labelled data file (a teacher without a trained head is fine-tuned on it).")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Column holding the text.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Column holding the label.")] = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Working folder shared with `kdedge compress` (default: runs/RECIPE).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override any recipe field (repeatable).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the result, no progress.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Export the (fine-tuned) teacher itself as an artifact: the baseline you would deploy without kdedge.

    Same export, fusion, variants and gates as a student; the runtime serves it and `kdedge bench`
    measures it next to the students.
    """
    with _one_line_errors(debug):
        from kdedge.pipeline.export_teacher import export_teacher
        from kdedge.progress import Reporter
        from kdedge.report import variants_table

        chosen = _recipe_with_options(recipe, set_, teacher, data, text_column, label_column, None, None, None, None)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        manifest = export_teacher(chosen, output, run_dir or Path("runs") / chosen.name, Reporter(quiet=quiet))
        table = variants_table(manifest)
        if table is not None and not quiet:
            Console().print(table)
        Console().print(f"teacher artifact ({manifest['variant']}) written to {output}")


@app.command("label")
def label_command(
    recipe: Annotated[Optional[str], typer.Option(help="Built-in recipe name or YAML path (default: sentiment-bilstm).")] = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Working folder shared with `kdedge compress` (default: runs/RECIPE).")] = None,
    shard: Annotated[str, typer.Option(help="Label only chunks i, i+n, i+2n, ... of the transfer set: i/n.")] = "0/1",
    teacher_only: Annotated[bool, typer.Option(help="Only fine-tune the teacher (if it needs it) and stop: run this once before parallel shards.")] = False,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override any recipe field (repeatable).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the result, no progress.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Run the teacher over the data once and cache its outputs (logits, hidden states) in chunks.

    `compress` does this itself. To label a large transfer set in parallel: `kdedge label
    --teacher-only` once (fine-tunes the teacher if it needs it), then `kdedge label --shard i/n` for
    i = 0..n-1 in n processes or machines sharing --run-dir (each resumes where it stopped), then
    `kdedge compress` with the same --run-dir, which finds the cache complete.
    """
    with _one_line_errors(debug):
        from kdedge.pipeline.prepare import prepare
        from kdedge.progress import Reporter
        from kdedge.teacher.cache import parse_shard

        chosen = _recipe_with_options(recipe, set_, None, None, None, None, None, None, None, None)
        position = parse_shard(shard)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        folder = run_dir or Path("runs") / chosen.name
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"  # one shard per GPU: CUDA_VISIBLE_DEVICES=i
        from kdedge.ownership import run_lock

        with run_lock(folder, f"kdedge label --shard {shard}", shared=True):  # shards share it; compress waits
            prepare(chosen, folder, Reporter(quiet=quiet), shard=position, teacher_only=teacher_only, device=device)
        Console().print(f"teacher ready in {folder}" if teacher_only else
                        f"teacher outputs for shard {shard} cached in {folder / 'teacher_cache'}")


@app.command("extract")
def extract_command(
    teacher: Annotated[str, typer.Argument(help="Teacher: alias (minilm, bert-base), local model folder or hub id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the extracted student (save_pretrained).")],
    student: Annotated[str, typer.Option(help="Student kind: transformer or bilstm.")] = "transformer",
    target: Annotated[Optional[str], typer.Option(help="Compression ratio, e.g. 30x.")] = None,
    max_params: Annotated[Optional[int], typer.Option(help="Cap the student's parameters instead of --target.")] = None,
    init: Annotated[str, typer.Option(help="etd-impt (by importance), etd-rand (uniform/random), random; pca for a BiLSTM.")] = "auto",
    reconstruct: Annotated[Optional[bool], typer.Option("--reconstruct/--no-reconstruct", help="Re-fit the extracted layers to the teacher's activations by layer-wise least squares (default: on).")] = None,
    recipe: Annotated[Optional[str], typer.Option(help="Recipe whose data scores importance and picks the vocabulary.")] = None,
    data: Annotated[Optional[str], typer.Option(help="Own data file instead of the recipe's.")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Column holding the text.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Column holding the label.")] = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Working folder (a fine-tuned teacher is kept and reused here).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override any recipe field (repeatable).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the result, no progress.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Extract a student from a teacher's own weights, without distilling it (Extract Then Distill).

    ETD-Impt keeps the layers, attention heads, head dimensions, FFN neurons and hidden dimensions with
    the highest gradient importance on the recipe's data, and its most frequent tokens; then every kept
    layer is re-fitted by least squares to reproduce the teacher's activations on those units
    (--no-reconstruct skips this). The result is a standard Hugging Face model folder. A teacher
    without a trained head is fine-tuned first.
    """
    with _one_line_errors(debug):
        from kdedge.pipeline.extract import extract
        from kdedge.progress import Reporter

        chosen = _recipe_with_options(recipe, set_, teacher, data, text_column, label_column, target, student, init,
                                      max_params, reconstruct)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        summary = extract(chosen, output, run_dir or Path("runs") / chosen.name, Reporter(quiet=quiet))
        Console().print(f"extracted a {summary['kind']} student ({summary['params']:,} parameters, "
                        f"{summary['compression']:.1f}x smaller) to {output}")


def _recipe_with_options(recipe, set_, teacher, data, text_column, label_column, target, student, init, max_params,
                         reconstruct=None):
    """The chosen recipe with the command line's options applied (explicit options win over --set)."""
    from kdedge.api import recipe_with_options

    return recipe_with_options(recipe, teacher=teacher, data=data, text_column=text_column, label_column=label_column,
                               target=target, student=student, init=init, max_params=max_params,
                               reconstruct=reconstruct, overrides=list(set_ or []))


def _int_list(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise KdedgeError(f"cannot read {option} {text!r}", hint=f"write positive integers separated by commas, e.g. {option} 1,8,32")
    return values


@app.command("bench")
def bench_command(
    artifacts: Annotated[Optional[list[Path]], typer.Argument(help="Artifact folders written by kdedge compress.")] = None,
    against: Annotated[Optional[str], typer.Option(help="Teacher to compare with: alias, folder or hub id; "
                                                 "bert-base-random is bert-base's shape with random weights.")] = None,
    batch_sizes: Annotated[str, typer.Option(help="Batch sizes, comma-separated.")] = "1,8,32,128",
    seq_lens: Annotated[str, typer.Option(help="Sequence lengths in tokens, comma-separated.")] = "32,128",
    threads: Annotated[Optional[str], typer.Option(help="Thread counts, comma-separated (default: all cores).")] = None,
    provider: Annotated[str, typer.Option(help="cpu, or cuda (onnxruntime-gpu and a CUDA device).")] = "cpu",
    max_seconds: Annotated[float, typer.Option(help="Time cap per model and setting, seconds.")] = 10.0,
    min_seconds: Annotated[float, typer.Option(help="Least sampling time per model and setting, seconds.")] = 1.0,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Write results as JSON (schema: runtime/kdedge_runtime/bench/schema.json).")] = None,
    markdown: Annotated[Optional[Path], typer.Option(help="Write results as a Markdown table.")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Draw throughput against batch size as a PNG.")] = None,
    texts: Annotated[Optional[Path], typer.Option(help="End to end instead: time Predictor.predict on the texts of this .txt/.jsonl/.csv file (tokenization, bucketing, model, post-processing) and report the share outside the model.")] = None,
    text_column: Annotated[str, typer.Option(help="The texts' column or key in a --texts .csv/.jsonl file.")] = "text",
    compare: Annotated[Optional[list[Path]], typer.Option("--compare", help="Instead of timing: put these bench JSON files (from kdedge bench or kdedge-runtime bench, on any machines) side by side; repeat the option for each file.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the result, no progress.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Measure batch latency and throughput of artifacts, and of their teacher, side by side in one run.

    The timing is kdedge-runtime's own (`kdedge-runtime bench` runs it on a target without torch, with
    MLPerf's scenarios too); --compare puts runs from several machines in one table (and --plot).

    With --against, the teacher runs in PyTorch fp32 and exported to ONNX fp32 (fused) and dynamic
    INT8 (what you would deploy without kdedge); every row shows its speed-up against both.

    With --texts, each artifact serves real texts end to end through kdedge-runtime's Predictor, and the
    table shows texts per second and what share of the time is spent outside the ONNX model.
    """
    with _one_line_errors(debug):
        if compare:
            from kdedge_runtime.bench.compare import compare_markdown, compare_plot, load_runs

            runs = load_runs(compare)
            text = compare_markdown(runs)
            typer.echo(text)
            if markdown:
                markdown.write_text(text)
            if plot:
                compare_plot(runs, plot)
            return
        if not artifacts:
            raise ConfigError("bench needs artifact folders", hint="kdedge bench ARTIFACT [...], or --compare a.json b.json")
        if texts is not None:
            _bench_end_to_end(artifacts, texts, text_column, batch_sizes, threads, min_seconds, max_seconds,
                              json_path, markdown, quiet)
            return
        from kdedge.bench.report import bench_markdown, bench_plot, bench_table
        from kdedge.bench.runner import BenchConfig, run_benchmark
        from kdedge.progress import Reporter

        config = BenchConfig(
            batch_sizes=_int_list(batch_sizes, "--batch-sizes"), seq_lens=_int_list(seq_lens, "--seq-lens"),
            threads=_int_list(threads, "--threads") if threads else (os.cpu_count() or 1,), provider=provider,
            max_seconds=max_seconds, min_seconds=min(min_seconds, max_seconds),
        )
        result = run_benchmark(artifacts, against, config, reporter=Reporter(quiet=quiet))
        Console().print(bench_table(result))
        command = "kdedge bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else None
        if json_path:
            json_path.write_text(json.dumps({**result.to_dict(), "command": command}, indent=2))
        if markdown:
            markdown.write_text(bench_markdown(result, command))
        if plot:
            bench_plot(result, plot)


def _bench_end_to_end(artifacts, texts, text_column, batch_sizes, threads, min_seconds, max_seconds, json_path,
                      markdown, quiet) -> None:
    from dataclasses import asdict

    from kdedge.bench.end_to_end import end_to_end_markdown, read_bench_texts, run_end_to_end
    from kdedge.bench.machine import cpu_summary
    from kdedge.progress import Reporter

    rows = run_end_to_end(artifacts, read_bench_texts(texts, text_column), _int_list(batch_sizes, "--batch-sizes"),
                          _int_list(threads, "--threads") if threads else (os.cpu_count() or 1,),
                          min(min_seconds, max_seconds), max_seconds, reporter=Reporter(quiet=quiet))
    table = Table(title=f"end to end: Predictor.predict on {texts.name}")
    for column in ("model", "variant", "batch", "threads", "p50 ms/call", "texts/s", "in model", "outside"):
        table.add_column(column, justify="left" if column in ("model", "variant") else "right")
    for row in rows:
        table.add_row(row.model, row.variant, str(row.batch_size), str(row.threads), f"{row.p50_ms:.2f}",
                      f"{row.texts_per_second:,.0f}", f"{row.model_share:.0%}", f"{row.outside_share:.0%}")
    Console().print(table)
    machine = cpu_summary()
    command = "kdedge bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else None
    if json_path:
        json_path.write_text(json.dumps({"schema": "kdedge.bench.end_to_end/1", "machine": machine, "command": command,
                                         "texts": str(texts), "results": [asdict(row) for row in rows]}, indent=2))
    if markdown:
        markdown.write_text((f"command: `{command}`\n" if command else "")
                            + f"machine: {machine['cpu']}, {machine['cores']} cores, onnxruntime "
                            f"{machine['onnxruntime']}\n\n" + end_to_end_markdown(rows))


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
