"""Run every command of the README's shell blocks as written, as a new user would, on a fresh copy.

    python benchmarks/readme_commands.py [--skip pytest] [--keep]

Clones this checkout (its committed state) into a new folder, makes a fresh virtual environment there,
and runs the README's `bash` blocks line by line in that folder with the environment's `bin/` first on
PATH: the install line, `kdedge compress`, the own-data example, the runtime and bench commands, the
docs build and the tests. Only what a user supplies is supplied: `reviews.csv` (3,000 labelled packaged
tweets in the columns the example names, `review` and `stars`). A command that serves (`kdedge-runtime
serve`) runs in the background until its `/health` answers, is asked one prediction, and is stopped.
Commands that this script is (itself) are skipped. Prints each command, its exit status and minutes,
and exits non-zero if any failed. Takes 30-40 minutes on 2 cores (two distillations and the tests).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands(readme: Path) -> list[str]:
    """The README's shell commands in order: each line of each ```bash block (continuations joined),
    without comments or blank lines."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", readme.read_text(encoding="utf-8"), flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            command = _without_comment(line).strip()
            if command:
                commands.append(" ".join(command.split()))
    return commands


def _without_comment(line: str) -> str:
    """`line` up to its first ` #` outside quotes."""
    for match in re.finditer(r"(^|\s)#", line):
        try:
            shlex.split(line[: match.start()])
        except ValueError:  # the # is inside quotes
            continue
        return line[: match.start()]
    return line


def write_reviews(path: Path, rows: int = 3000) -> None:
    """What the own-data example expects from its user: a CSV with `review` and `stars` columns."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from own_data import write_rows

    tweets = path.with_name("tweets.csv")
    write_rows(tweets, rows)
    with open(tweets, encoding="utf-8", newline="") as source, open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["review", "stars"])
        writer.writerows([row["text"], row["sentiment"]] for row in csv.DictReader(source))
    tweets.unlink()


def serve_and_ask(command: str, env: dict, cwd: Path) -> int:
    """Start a `serve` command as written, wait for /health, ask /predict once, stop it."""
    port = re.search(r"--port (\d+)", command)
    url = f"http://127.0.0.1:{port[1] if port else 8000}"
    server = subprocess.Popen(command, shell=True, cwd=cwd, env=env, start_new_session=True)
    try:
        for _ in range(120):
            time.sleep(0.5)
            if server.poll() is not None:
                return server.returncode or 1
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                continue
        else:
            return 1
        request = urllib.request.Request(f"{url}/predict", data=b'{"texts": ["what a great day"]}',
                                         headers={"Content-Type": "application/json"})
        answer = urllib.request.urlopen(request, timeout=10).read().decode()
        print(f"  /predict -> {answer[:200]}")
        return 0 if '"label"' in answer else 1
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", nargs="*", default=[], help="skip commands starting with these words (e.g. pytest)")
    parser.add_argument("--keep", action="store_true", help="keep the fresh copy afterwards (its path is printed)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kdedge-readme-"))
    copy = work / "kdedge"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(copy)], check=True)
    subprocess.run([sys.executable, "-m", "venv", str(copy / ".venv")], check=True)
    subprocess.run([str(copy / ".venv" / "bin" / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                   check=True)
    env = {**os.environ, "PATH": f"{copy / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "VIRTUAL_ENV": str(copy / ".venv"), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    write_reviews(copy / "reviews.csv")
    failures, done = [], set()
    for command in readme_commands(copy / "README.md"):
        if command.startswith("python benchmarks/readme_commands.py") or any(
                command.startswith(skipped) for skipped in args.skip):
            print(f"skipped: {command}")
            continue
        if command in done:
            print(f"ran above: {command}")
            continue
        done.add(command)
        print(f"$ {command}", flush=True)
        started = time.perf_counter()
        if " serve " in f" {command} ":
            status = serve_and_ask(command, env, copy)
        else:
            status = subprocess.run(command, shell=True, cwd=copy, env=env).returncode
        minutes = (time.perf_counter() - started) / 60
        print(f"  -> exit {status} in {minutes:.1f} min", flush=True)
        if status != 0:
            failures.append(command)
    print(f"{len(failures)} of the README's commands failed" + (":\n  " + "\n  ".join(failures) if failures else ""))
    if args.keep:
        print(f"kept: {copy}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
