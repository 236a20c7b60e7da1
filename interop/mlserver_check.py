"""Serve a kdedge artifact with Seldon MLServer and check it answers as kdedge-runtime does.

    python interop/mlserver_check.py [ARTIFACT] [--venv DIR]

ARTIFACT defaults to the README's default artifact (benchmarks/results/compress_default/artifact).
MLServer pins its own web stack, so it gets an environment of its own: the script creates DIR (default
/tmp/kdedge-mlserver; reused when it already has MLServer) with `mlserver` and this checkout's
kdedge-runtime, writes a model repository whose `model-settings.json` names
`kdedge_runtime.integrations.mlserver.KdedgeRuntime`, starts `mlserver start` on 127.0.0.1 (free ports),
queries it with `tritonclient.http` (JSON tensors: MLServer 1.7's REST server does not read the binary
tensor data extension, which it would reject as "JSON decode error") from this environment, and compares
every output with `Predictor.predict` here: labels equal, probabilities within 1e-5. Exits 0 when they agree.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ARTIFACT = ROOT / "benchmarks" / "results" / "compress_default" / "artifact"
MLSERVER = "mlserver==1.7.1"
TEXTS = ["what a wonderful day with friends", "this is the worst service ever", "the meeting is at noon",
         "I can't believe how good this was!!!", "meh"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(venv: Path) -> Path:
    """The MLServer environment's python, created (or updated to this checkout's runtime) as needed."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} with {MLSERVER} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", MLSERVER, str(ROOT / "runtime")], check=True)
    return python


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path, nargs="?", default=DEFAULT_ARTIFACT)
    parser.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "kdedge-mlserver")
    parser.add_argument("--name", default="tweets", help="the model's name in MLServer (default tweets)")
    args = parser.parse_args()
    if not (args.artifact / "kdedge.json").is_file():
        print(f"error: {args.artifact} is not a kdedge artifact: run `kdedge compress` first or pass one",
              file=sys.stderr)
        return 2
    import numpy as np
    import tritonclient.http as tritonhttp

    from kdedge_runtime import Predictor

    python = environment(args.venv)
    with tempfile.TemporaryDirectory() as models:
        model_dir = Path(models) / args.name
        model_dir.mkdir()
        settings = subprocess.run(
            [str(python), "-c", "import json, sys; from kdedge_runtime.integrations.mlserver import model_settings; "
                                "print(json.dumps(model_settings(sys.argv[1], sys.argv[2], threads=1)))",
             args.name, str(args.artifact.resolve())], check=True, capture_output=True, text=True).stdout
        (model_dir / "model-settings.json").write_text(settings)
        http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
        (Path(models) / "settings.json").write_text(json.dumps(
            {"host": "127.0.0.1", "http_port": http_port, "grpc_port": grpc_port, "metrics_port": metrics_port,
             "parallel_workers": 0}))
        server = subprocess.Popen([str(python.parent / "mlserver"), "start", models], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        client = tritonhttp.InferenceServerClient(f"127.0.0.1:{http_port}")
        try:
            deadline = time.time() + 120
            while True:
                try:
                    if client.is_model_ready(args.name):
                        break
                except Exception:  # not listening yet
                    pass
                if server.poll() is not None or time.time() > deadline:
                    print(server.stdout.read() if server.poll() is not None else "", file=sys.stderr)
                    print("error: MLServer did not become ready", file=sys.stderr)
                    return 1
                time.sleep(0.5)
            predictor = Predictor(args.artifact, threads=1)
            expected = predictor.predict(TEXTS)
            failures = []
            for binary in (False,):
                tensor = tritonhttp.InferInput("text", [len(TEXTS)], "BYTES")
                tensor.set_data_from_numpy(np.array([t.encode() for t in TEXTS], dtype=np.object_), binary_data=binary)
                result = client.infer(args.name, [tensor], request_id="mlserver-check")
                failures += compare(result, expected, predictor, binary)
            print(json.dumps({"mlserver": MLSERVER, "artifact": str(args.artifact), "texts": len(TEXTS),
                              "modes": ["json"], "agree": not failures, "failures": failures}))
            return 0 if not failures else 1
        finally:
            client.close()
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


def compare(result, expected, predictor, binary: bool) -> list[str]:
    """What differs between MLServer's outputs and Predictor.predict's results."""
    import numpy as np

    mode, failures = "binary" if binary else "json", []
    tasks = predictor.manifest.tasks
    for task in tasks:
        prefix = f"{task.name}." if predictor.manifest.multitask else ""
        rows = [p.tasks[task.name] if predictor.manifest.multitask else p for p in expected]
        if task.task == "token-classification":
            got = [json.loads(v.decode() if isinstance(v, bytes) else v) for v in result.as_numpy(prefix + "entities")]
            want = [[e.text for e in r.entities] for r in rows]
            if [[e["text"] for e in text] for text in got] != want:
                failures.append(f"{mode}: {prefix}entities differ")
            continue
        labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy(prefix + "label")]
        if labels != [r.label for r in rows]:
            failures.append(f"{mode}: {prefix}label {labels} != {[r.label for r in rows]}")
        probabilities = result.as_numpy(prefix + "probabilities")
        want = np.array([[r.probabilities[label] for label in task.labels] for r in rows])
        if probabilities is None or np.abs(probabilities - want).max() > 1e-5:
            failures.append(f"{mode}: {prefix}probabilities differ by more than 1e-5")
    if result.get_response().get("id") != "mlserver-check":
        failures.append(f"{mode}: the request id was not echoed")
    return failures


if __name__ == "__main__":
    sys.exit(main())
