"""`kdedge-runtime bench`: time artifacts on this machine with the runtime alone, in batch cells and in
MLPerf's scenarios, or put runs from several machines side by side (`--compare`)."""

from __future__ import annotations

import json
import os
import random
import sys
from dataclasses import asdict
from pathlib import Path

from kdedge_runtime.bench.machine import fingerprint
from kdedge_runtime.bench.scenarios import SCENARIOS, ScenarioConfig, run_scenarios
from kdedge_runtime.bench.timing import (
    BenchConfig,
    BenchError,
    BenchResult,
    artifact_names,
    require_artifacts,
    run_artifacts,
)
from kdedge_runtime.errors import InputError


def int_list(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or any(value < 1 for value in values):
        raise InputError(f"{option} takes positive integers separated by commas, not {text!r}")
    return values


def add_arguments(parser) -> None:
    parser.add_argument("artifacts", nargs="*", type=Path, help="artifact folders (students, and a teacher written "
                                                                 "by kdedge export-teacher)")
    parser.add_argument("--batch-sizes", default="1,8,32,128", help="batch sizes, comma-separated")
    parser.add_argument("--seq-lens", default="32,128", help="sequence lengths in tokens, comma-separated")
    parser.add_argument("--threads", default=None, help="onnxruntime threads, comma-separated (default: all cores)")
    parser.add_argument("--provider", default="cpu", help="cpu, or cuda (onnxruntime-gpu)")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="least sampling time per cell")
    parser.add_argument("--max-seconds", type=float, default=10.0, help="time cap per cell")
    parser.add_argument("--no-cells", action="store_true", help="skip the batch cells (scenarios only)")
    parser.add_argument("--scenarios", default="", help="MLPerf scenarios to run, comma-separated: "
                                                        + ", ".join(SCENARIOS) + " (or all)")
    parser.add_argument("--texts", type=Path, help="texts for the scenarios: .txt/.jsonl/.csv (default: synthetic)")
    parser.add_argument("--text-column", default="text", help="the texts' column or key in .csv/.jsonl")
    parser.add_argument("--url", help="run the server scenario against a running kdedge-runtime serve at this URL")
    parser.add_argument("--p99-bound-ms", type=float, default=ScenarioConfig.server_bound_ms,
                        help=f"server scenario: the p99 latency a rate must hold (default {ScenarioConfig.server_bound_ms})")
    parser.add_argument("--scenario-seconds", type=float, default=ScenarioConfig.server_seconds,
                        help="server scenario: seconds of arrivals per rate tried; single-stream and offline: "
                             "least seconds")
    parser.add_argument("--compare", nargs="+", type=Path, metavar="JSON",
                        help="put bench JSON files from several machines side by side instead of timing")
    parser.add_argument("--json", type=Path, help="write the results as JSON (schema: kdedge_runtime/bench/schema.json)")
    parser.add_argument("--markdown", type=Path, help="write the results as Markdown")
    parser.add_argument("--plot", type=Path, help="with --compare: a PNG of throughput per machine (needs matplotlib)")


def synthetic_texts(tokenizer_path: Path, count: int = 1000, seed: int = 0) -> list[str]:
    """Texts of 5 to 40 words drawn from the tokenizer's whole-word vocabulary (reproducible)."""
    from tokenizers import Tokenizer

    vocabulary = [token for token in Tokenizer.from_file(str(tokenizer_path)).get_vocab()
                  if token.isalpha() and token.isascii()]
    if not vocabulary:
        raise InputError(f"{tokenizer_path} has no plain words to make synthetic texts from: pass --texts FILE")
    vocabulary.sort()
    rng = random.Random(seed)
    return [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(5, 40))) for _ in range(count)]


def run(args) -> int:
    from kdedge_runtime.bench.compare import compare_markdown, compare_plot, load_runs

    if args.compare:
        runs = load_runs(args.compare)
        text = compare_markdown(runs)
        print(text)
        if args.markdown:
            args.markdown.write_text(text, encoding="utf-8")
        if args.plot:
            compare_plot(runs, args.plot)
        return 0
    if not args.artifacts:
        raise InputError("bench needs artifact folders (or --compare JSON files)")
    folders = list(args.artifacts)
    require_artifacts(folders)
    threads = int_list(args.threads, "--threads") if args.threads else (os.cpu_count() or 1,)
    which = list(SCENARIOS) if args.scenarios.strip() == "all" else [s.strip() for s in args.scenarios.split(",")
                                                                      if s.strip()]
    unknown = [s for s in which if s not in SCENARIOS]
    if unknown:
        raise InputError(f"unknown scenario {unknown[0]!r}; known: {', '.join(SCENARIOS)}, or all")
    if args.url and len(folders) > 1 and "server" in which:  # before any timing, not after it
        raise BenchError("--url serves one artifact: give one artifact with --url")
    config = BenchConfig(batch_sizes=int_list(args.batch_sizes, "--batch-sizes"),
                         seq_lens=int_list(args.seq_lens, "--seq-lens"), threads=threads, provider=args.provider,
                         max_seconds=args.max_seconds, min_seconds=min(args.min_seconds, args.max_seconds))
    progress = (lambda line: print(line, file=sys.stderr, flush=True)) if sys.stderr.isatty() else None
    machine = fingerprint()
    if args.no_cells:
        result = BenchResult(machine=machine, config=asdict(config))
    else:
        result = run_artifacts(folders, config, machine, progress=progress)
    if which:
        result.scenarios = scenarios_for(folders, which, args, threads[0], progress)
    command = "kdedge-runtime bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else None
    text = result.table(command)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({**result.to_dict(), "command": command}, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    return 0


def scenarios_for(folders: list[Path], which: list[str], args, threads: int, progress) -> list[dict]:
    from kdedge_runtime.predictor import Predictor

    if args.texts:
        from kdedge_runtime.predict_file import InputTexts

        texts = [text for text in InputTexts(args.texts, args.text_column) if text.strip()]
        if not texts:
            raise InputError(f"{args.texts} has no texts")
    else:
        texts = None
    seconds = args.scenario_seconds
    config = ScenarioConfig(min_seconds=min(seconds, 3.0), max_seconds=max(seconds * 4, 5.0),
                            server_bound_ms=args.p99_bound_ms, server_seconds=seconds)
    results = []
    for folder, name in zip(folders, artifact_names(folders), strict=True):
        predictor = Predictor(folder, threads=threads)
        chosen = texts or synthetic_texts(folder / predictor.manifest.tokenizer_file)
        results += run_scenarios(predictor, chosen, which, config, url=args.url, name=name, progress=progress)
    return results
