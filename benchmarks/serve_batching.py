"""Dynamic batching under many small concurrent requests (docs: how-to/serving.md): today's server against the
server before dynamic batching, side by side in one run on 127.0.0.1.

Three servers on the same artifact, each started alone, warmed up, then driven by `--clients` concurrent
keep-alive clients posting `--texts-per-request` packaged tweets to `POST /predict` for `--seconds`:

- `before`: kdedge-runtime as it was at commit BASE (each request its own model call, in Starlette's
  thread pool), run from that commit's source (`git archive`);
- `no batching`: this checkout with `--max-batch-texts 0` (each request its own call, on the bounded pool);
- `dynamic batching`: this checkout as it ships (concurrent requests grouped into one call).

The rounds repeat (`--rounds`) in that order, so machine drift hits every server alike; the table gives
each server's median round and the spread, and the ratio of requests/s against `before` in each round.

    python benchmarks/serve_batching.py benchmarks/results/compress_default/artifact --clients 64 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from serve_load import RESULTS, cpu_name, free_port, load_texts, run_phase, wait_until_healthy

ROOT = Path(__file__).resolve().parent.parent
BASE = "889ac63"  # the last commit before dynamic batching and the V2 routes


def old_runtime(commit: str, into: Path) -> Path:
    """The runtime package's source at `commit`, unpacked under `into`; returns the folder to put on sys.path."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "runtime/kdedge_runtime"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "runtime"


def start(command: list[str], port: int, env: dict, log: Path) -> subprocess.Popen:
    """The server, its access log going to `log` (a pipe nobody reads would fill and stall it)."""
    with open(log, "w") as handle:
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=handle, text=True, env=env)
    server.stderr = open(log)  # what wait_until_healthy shows if the server exits
    wait_until_healthy(port, server)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup-seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="the server's onnxruntime threads")
    parser.add_argument("--base", default=BASE, help=f"the commit whose server is `before` (default {BASE})")
    parser.add_argument("--name", default="serve_batching")
    args = parser.parse_args()

    texts = load_texts(None)
    runtime_cli = "import sys; from kdedge_runtime.cli import main; sys.exit(main())"
    with tempfile.TemporaryDirectory() as scratch:
        old = old_runtime(args.base, Path(scratch))
        servers = {
            "before": (["-c", runtime_cli], {"PYTHONPATH": str(old)}),
            "no batching": (["-c", runtime_cli], {}, ["--max-batch-texts", "0"]),
            "dynamic batching": (["-c", runtime_cli], {}),
        }
        rounds: dict[str, list[dict]] = {name: [] for name in servers}
        for number in range(args.rounds):
            for name, (prefix, extra_env, *options) in servers.items():
                port = free_port()
                command = [sys.executable, *prefix, "serve", str(args.artifact), "--port", str(port),
                           "--threads", str(args.threads), *(options[0] if options else [])]
                env = {**os.environ, **extra_env}
                if name != "before":
                    env.pop("PYTHONPATH", None)
                server = start(command, port, env, Path(scratch) / "server.log")
                try:
                    run_phase(port, texts, args.clients, args.texts_per_request, args.warmup_seconds)
                    result = run_phase(port, texts, args.clients, args.texts_per_request, args.seconds)
                finally:
                    server.terminate()
                    server.wait(timeout=30)
                    server.stderr.close()
                rounds[name].append(result)
                print(f"round {number + 1} {name}: {result['requests_per_second']:.0f} requests/s, "
                      f"p99 {result['p99_ms']:.1f} ms, {result['errors']} errors", file=sys.stderr)
    report = {"artifact": str(args.artifact), "clients": args.clients, "texts_per_request": args.texts_per_request,
              "server_threads": args.threads, "cpu": cpu_name(), "cores": os.cpu_count(), "base": args.base,
              "rounds": rounds, "command": "python benchmarks/serve_batching.py " + " ".join(sys.argv[1:])}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = render(report)
    (RESULTS / f"{args.name}.md").write_text(markdown + "\n")
    print(markdown)
    if any(r["errors"] for results in rounds.values() for r in results):
        sys.exit(1)


def render(report: dict) -> str:
    rounds = report["rounds"]
    before = [r["requests_per_second"] for r in rounds["before"]]
    rows = ["| server | requests/s (median, range) | vs before, per round | p50 ms | p90 ms | p99 ms | errors |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name, results in rounds.items():
        rates = [r["requests_per_second"] for r in results]
        median = sorted(results, key=lambda r: r["requests_per_second"])[len(results) // 2]
        ratios = ", ".join(f"{rate / base:.2f}x" for rate, base in zip(rates, before, strict=True))
        rows.append(f"| {name} | {statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) | {ratios} | "
                    f"{median['p50_ms']:.1f} | {median['p90_ms']:.1f} | {median['p99_ms']:.1f} | "
                    f"{sum(r['errors'] for r in results)} |")
    return "\n".join([
        f"command: `{report['command']}`",
        f"machine: {report['cpu']}, {report['cores']} cores; server: {report['server_threads']} onnxruntime threads; "
        f"{report['clients']} concurrent clients, {report['texts_per_request']} text per request, on 127.0.0.1; "
        f"{len(rounds['before'])} rounds of each server, `before` = commit {report['base']}",
        "",
        *rows,
    ])


if __name__ == "__main__":
    main()
