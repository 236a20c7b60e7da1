"""`kdedge-runtime`: serve or query an artifact from the command line (argparse: no extra dependency)."""

from __future__ import annotations

import argparse
import json
import sys

from kdedge_runtime.manifest import ArtifactError


def main(argv: list[str] | None = None) -> int:
    from kdedge_runtime.serve import ServeConfig

    defaults = ServeConfig()
    parser = argparse.ArgumentParser(prog="kdedge-runtime", description="Serve kdedge artifacts (no torch).")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve POST /predict and GET /health over HTTP")
    serve.add_argument("artifact", help="artifact folder written by `kdedge compress`")
    serve.add_argument("--host", default=defaults.host, help=f"address to bind (default {defaults.host}: this machine only)")
    serve.add_argument("--port", type=int, default=defaults.port, help=f"port (default {defaults.port})")
    serve.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: its choice)")
    serve.add_argument("--max-texts", type=int, default=defaults.max_texts, help="texts per request")
    serve.add_argument("--max-body-bytes", type=int, default=defaults.max_body_bytes, help="request body size limit")
    serve.add_argument("--batch-size", type=int, default=defaults.batch_size, help="texts per model call")
    serve.add_argument("--max-queued-texts", type=int, default=defaults.max_queued_texts,
                       help="texts accepted and not yet answered, all requests together; beyond it: 503 + Retry-After")
    predict = commands.add_parser("predict", help="classify texts given as arguments; prints JSON lines")
    predict.add_argument("artifact")
    predict.add_argument("texts", nargs="+")
    args = parser.parse_args(argv)

    try:
        if args.command == "serve":
            try:
                import starlette  # noqa: F401
                import uvicorn  # noqa: F401

                from kdedge_runtime.serve import serve as run_server
            except ImportError:
                print('error: serving needs the serve extra — pip install "kdedge-runtime[serve]"', file=sys.stderr)
                return 2
            config = ServeConfig(host=args.host, port=args.port, max_texts=args.max_texts,
                                 max_body_bytes=args.max_body_bytes, batch_size=args.batch_size,
                                 max_queued_texts=args.max_queued_texts)
            run_server(args.artifact, config, threads=args.threads)
        else:
            from kdedge_runtime.predictor import Predictor, as_json

            predictor = Predictor(args.artifact)
            for text, prediction in zip(args.texts, predictor.predict(args.texts), strict=True):
                if isinstance(prediction, dict):  # multi-task: one result per task
                    print(json.dumps({"text": text, **as_json(prediction)}))
                elif isinstance(prediction, list):  # token classification: the text's entities
                    print(json.dumps({"text": text, "entities": as_json(prediction)}))
                else:
                    print(json.dumps({"text": text, "label": prediction.label, "score": round(prediction.score, 6)}))
    except ArtifactError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
