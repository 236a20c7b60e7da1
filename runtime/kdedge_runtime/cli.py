"""`kdedge-runtime`: serve or query an artifact from the command line (argparse: no extra dependency)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from kdedge_runtime.errors import KdedgeRuntimeError


def build_parser() -> argparse.ArgumentParser:
    """The `kdedge-runtime` command line (also read by kdedge's generated CLI reference)."""
    from kdedge_runtime import __version__
    from kdedge_runtime.serve import ServeConfig

    defaults = ServeConfig()
    parser = argparse.ArgumentParser(prog="kdedge-runtime", description="Serve kdedge artifacts (no torch).")
    parser.add_argument("--version", action="version", version=f"kdedge-runtime {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve POST /predict, GET /health, /ready, /metrics and the Open Inference Protocol (/v2) over HTTP")
    serve.add_argument("artifact", help="artifact folder written by `kdedge compress`")
    serve.add_argument("--host", default=defaults.host, help=f"address to bind (default {defaults.host}: this machine only)")
    serve.add_argument("--port", type=int, default=defaults.port, help=f"port (default {defaults.port})")
    serve.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: its choice)")
    serve.add_argument("--max-texts", type=int, default=defaults.max_texts, help="texts per request")
    serve.add_argument("--max-body-bytes", type=int, default=defaults.max_body_bytes, help="request body size limit")
    serve.add_argument("--batch-size", type=int, default=defaults.batch_size, help="texts per model call")
    serve.add_argument("--max-queued-texts", type=int, default=defaults.max_queued_texts,
                       help="texts accepted and not yet answered, all requests together; beyond it: 503 + Retry-After")
    serve.add_argument("--workers", type=int, default=defaults.workers,
                       help="worker processes, each loading the model (default 1); give each --threads 1-2")
    serve.add_argument("--max-batch-texts", type=int, default=defaults.max_batch_texts,
                       help="dynamic batching: texts of concurrent requests put into one model call "
                            f"(default {defaults.max_batch_texts}; 0 turns it off)")
    serve.add_argument("--batch-delay-ms", type=float, default=defaults.batch_delay_ms,
                       help="how long a batch that is not full waits for more texts "
                            f"(default {defaults.batch_delay_ms}; 0: only those already waiting)")
    serve.add_argument("--api-key", default=os.environ.get("KDEDGE_API_KEY"),
                       help="require 'Authorization: Bearer KEY' on every route but the probes (default: "
                            "$KDEDGE_API_KEY; none: no check, for deployments behind a gateway)")
    serve.add_argument("--allowed-hosts", default=None,
                       help="Host header names served, comma-separated (default: localhost, 127.0.0.1 and [::1] when "
                            "bound to loopback, which stops DNS rebinding; any name otherwise)")
    serve.add_argument("--idle-timeout", type=float, default=defaults.idle_timeout_seconds,
                       help=f"seconds before an idle connection is closed (default {defaults.idle_timeout_seconds:g})")
    serve.add_argument("--max-connections", type=int, default=defaults.max_connections,
                       help=f"connections and requests at once; beyond them: 503 (default {defaults.max_connections})")
    serve.add_argument("--model-name", default=None,
                       help="the model's name under /v2/models/ (default: the artifact folder's name)")
    triton = commands.add_parser(
        "export-triton", help="write a Triton Inference Server model repository for an artifact",
        description="Write a Triton model repository: a tokenizer (Python backend), the ONNX model "
                    "(onnxruntime, dynamic batching), a post-processing model (Python backend) and their ensemble "
                    "NAME, which takes texts and answers as /v2/models/NAME/infer does.")
    triton.add_argument("artifact", help="artifact folder written by `kdedge compress`")
    triton.add_argument("out", type=Path, help="the model repository to write (a new or empty folder)")
    triton.add_argument("--name", default=None, help="the ensemble's name (default: the artifact folder's name)")
    triton.add_argument("--max-batch-size", type=int, default=64, help="Triton's max_batch_size (default 64)")
    bench = commands.add_parser(
        "bench", help="time artifacts on this machine (batch cells, MLPerf scenarios), or --compare runs",
        description="Time artifacts with the runtime alone (no torch): batch latency cells side by side, MLPerf's "
                    "single-stream, offline and server scenarios (--scenarios), or put JSON runs from several "
                    "machines side by side (--compare). A teacher artifact from `kdedge export-teacher` is the "
                    "reference of the 'vs teacher artifact' column.")
    from kdedge_runtime.bench.command import add_arguments

    add_arguments(bench)
    predict = commands.add_parser(
        "predict", help="classify texts given as arguments (prints JSON lines) or every text of a file",
        description="Classify TEXTS given as arguments and print JSON lines, or stream a whole file with "
                    "--input/--output: .txt (a text per line), .jsonl or .csv in, JSON lines out, in input order.")
    predict.add_argument("artifact", help="artifact folder written by `kdedge compress`")
    predict.add_argument("texts", nargs="*", help="texts to classify (or use --input)")
    predict.add_argument("--input", type=Path, help="a .txt, .jsonl or .csv file of texts, of any size")
    predict.add_argument("--output", type=Path, help="where --input's predictions go: a .jsonl file")
    predict.add_argument("--text-column", default="text", help="the text's column or key in .csv/.jsonl (default text)")
    predict.add_argument("--encoding", default="utf-8",
                         help="--input's text encoding, e.g. latin-1 (default utf-8; the output is UTF-8)")
    predict.add_argument("--batch-size", type=int, default=32, help="texts per model call (default 32)")
    predict.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: its choice)")
    predict.add_argument("--resume", action="store_true", help="continue an interrupted --output after its last line")
    predict.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    return parser


def main(argv: list[str] | None = None) -> int:
    from kdedge_runtime.serve import ServeConfig

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "predict" and (bool(args.input) == bool(args.texts) or bool(args.input) != bool(args.output)):
        parser.error("predict takes either TEXTS or --input FILE with --output FILE.jsonl")
    if args.command == "predict" and args.batch_size < 1:
        parser.error("--batch-size must be at least 1")

    try:
        if args.command == "serve":
            try:
                import starlette  # noqa: F401
                import uvicorn  # noqa: F401

                from kdedge_runtime.serve import serve as run_server
            except ImportError:
                print('error: serving needs the serve extra — pip install "kdedge-runtime[serve]"', file=sys.stderr)
                return 2
            try:
                config = ServeConfig(host=args.host, port=args.port, max_texts=args.max_texts,
                                     max_body_bytes=args.max_body_bytes, batch_size=args.batch_size,
                                     max_queued_texts=args.max_queued_texts, workers=args.workers,
                                     max_batch_texts=args.max_batch_texts, batch_delay_ms=args.batch_delay_ms,
                                     model_name=args.model_name, api_key=args.api_key or None,
                                     allowed_hosts=tuple(h.strip() for h in args.allowed_hosts.split(",") if h.strip())
                                     if args.allowed_hosts else None,
                                     idle_timeout_seconds=args.idle_timeout, max_connections=args.max_connections)
            except ValueError as problem:
                parser.error(str(problem))
            run_server(args.artifact, config, threads=args.threads)
        elif args.command == "bench":
            from kdedge_runtime.bench.command import run as run_bench

            return run_bench(args)
        elif args.command == "export-triton":
            from kdedge_runtime.triton import TritonConfig, export_triton

            name = args.name or Path(args.artifact).resolve().name
            out = export_triton(args.artifact, args.out, TritonConfig(name=name, max_batch_size=args.max_batch_size))
            print(f"Triton model repository for {name!r} -> {out} (tritonserver --model-repository {out}; "
                  "the Python models need kdedge-runtime installed in Triton's Python environment)", file=sys.stderr)
        elif args.input:
            from kdedge_runtime.predict_file import FileJob, predict_file
            from kdedge_runtime.predictor import Predictor

            job = FileJob(args.input, args.output, args.text_column, args.batch_size, resume=args.resume,
                          overwrite=args.overwrite, encoding=args.encoding)
            summary = predict_file(Predictor(args.artifact, threads=args.threads), job,
                                   progress=sys.stderr if sys.stderr.isatty() else None)
            resumed = f" (resumed after {summary.skipped:,} done earlier)" if summary.skipped else ""
            print(f"{summary.texts:,} texts in {summary.seconds:.1f} s, {summary.texts_per_second:,.0f} texts/s "
                  f"-> {args.output}{resumed}", file=sys.stderr)
        else:
            from kdedge_runtime.predict_file import result_record
            from kdedge_runtime.predictor import Predictor

            predictor = Predictor(args.artifact, threads=args.threads)
            for text, prediction in zip(args.texts, predictor.predict(args.texts, args.batch_size), strict=True):
                print(json.dumps(result_record(text, prediction)))
    except KdedgeRuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
