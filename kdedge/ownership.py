"""What kdedge may delete: only what it wrote.

A run directory is kdedge's when it carries the marker file `.kdedge-run`, written when kdedge creates it
(or finds it empty). A non-empty folder without the marker is refused as a run directory, so
`--run-dir .` in a folder of the user's own files cannot lose any of them. Inside a run directory a stage
folder is removed only when kdedge's `stage.json` says it wrote it. An artifact folder is replaced only
when it holds nothing but the files an artifact is made of.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from kdedge.errors import ConfigError

RUN_MARKER = ".kdedge-run"
STAGE_STAMP = "stage.json"


def claim_run_dir(run_dir: Path) -> Path:
    """`run_dir`, created and marked as kdedge's if it is new or empty; refused (one line) if it holds
    files and no marker. The marker records when and by which process it was claimed."""
    run_dir = Path(run_dir)
    marker = run_dir / RUN_MARKER
    if marker.is_file():
        return run_dir
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run directory {run_dir} is a file", hint="choose a folder for --run-dir")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(
            f"run directory {run_dir} is not empty and was not made by kdedge (no {RUN_MARKER} in it); kdedge writes "
            "and deletes inside its run directory",
            hint=f"choose a new or empty --run-dir (if an older kdedge made this one, add the marker: "
                 f"touch {marker})")
    run_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"claimed": time.strftime("%Y-%m-%dT%H:%M:%S"), "pid": os.getpid()}) + "\n")
    return run_dir


def remove_stage(folder: Path) -> None:
    """Remove a stage folder kdedge wrote; a folder of that name kdedge did not write is an error, not a loss."""
    folder = Path(folder)
    if not folder.exists():
        return
    if folder.is_dir() and (folder / STAGE_STAMP).is_file():
        shutil.rmtree(folder)
        return
    raise ConfigError(f"{folder} exists and was not written by kdedge (no {STAGE_STAMP}): kdedge will not replace it",
                      hint="move it out of the run directory, or choose another --run-dir")


LOCK_FILE = ".kdedge-run.lock"
HOLDER_FILE = ".kdedge-run.holder"
# what a run writes before its first stage (the data cache rebuilds in seconds)
BOOKKEEPING = {RUN_MARKER, LOCK_FILE, HOLDER_FILE, "recipe.json", "cache"}


@contextmanager
def run_lock(run_dir: Path, command: str, shared: bool = False):
    """Hold the run directory for one run: exclusive for compress, extract and export-teacher; shared by
    the shards of `kdedge label`. Another run finds it held and is refused in one line naming the holder.
    In a distributed launch only rank 0 takes it (the other ranks are the same run). A run directory this
    call created is removed again when the run fails before writing anything but kdedge's bookkeeping
    (a missing data file leaves no stray folder)."""
    created = [folder for folder in (Path(run_dir), *Path(run_dir).parents) if not folder.exists()]
    run_dir = claim_run_dir(Path(run_dir))
    if os.environ.get("RANK", "0") != "0":
        yield run_dir
        return
    handle = open(run_dir / LOCK_FILE, "a+")
    try:
        fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        holder = run_dir / HOLDER_FILE
        who = holder.read_text().strip() if holder.is_file() else "another kdedge process"
        raise ConfigError(f"run directory {run_dir} is in use by {who}",
                          hint="wait for that run to finish, or give this one another --run-dir") from None
    (run_dir / HOLDER_FILE).write_text(f"process {os.getpid()} ({command}, since {time.strftime('%H:%M:%S')})\n")
    try:
        yield run_dir
    except BaseException:
        if created and {path.name for path in run_dir.iterdir()} <= BOOKKEEPING:
            shutil.rmtree(run_dir, ignore_errors=True)
            for folder in created[1:]:  # the parents this call made, while they are empty
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
        raise
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
