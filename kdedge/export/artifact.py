"""The artifact: a self-describing folder that kdedge-runtime serves.

    model.onnx      the chosen variant
    tokenizer.json  the teacher's tokenizer (the student reads the same ids)
    kdedge.json     task, labels, sizes, metrics, parity, file hashes and the recipe
    runtime/        kdedge-runtime's wheel, its dependencies pinned: `pip install ./runtime/*.whl` on a target

It is assembled in a hidden staging folder beside the destination and renamed into place only when
every check has passed, so a failed run never leaves a half-written artifact.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from kdedge.errors import ConfigError
from kdedge.export.model_card import CARD_FILE, write_model_card
from kdedge.export.runtime_wheel import RUNTIME_DIR, write_runtime_wheel
from kdedge_runtime.manifest import MANIFEST_NAME, file_sha256, schema_version, serving_sha256

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "config.json"  # Transformer students only: the Hugging Face config, for optimum and transformers
VARIANTS_DIR = "variants"  # with export.keep_variants: the other variants that passed their gates
ARTIFACT_FILES = (MODEL_FILE, TOKENIZER_FILE, CONFIG_FILE, MANIFEST_NAME, CARD_FILE)  # what an artifact is made of,
ARTIFACT_DIRS = {VARIANTS_DIR: ".onnx", RUNTIME_DIR: ".whl"}  # and its folders, by the kind of file they hold


def write_manifest(folder: Path, manifest: dict) -> None:
    manifest = _with_schema(manifest)
    manifest.setdefault("files", {"model": MODEL_FILE, "tokenizer": TOKENIZER_FILE})
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _with_schema(manifest: dict) -> dict:
    """`manifest` with its schema version first (kdedge_runtime.manifest.schema_version)."""
    rest = {key: value for key, value in manifest.items() if key != "schema"}
    return {"schema": schema_version(rest), **rest}


def seal(folder: Path, manifest: dict) -> dict:
    """Add sizes and hashes of the files the artifact ships, then write kdedge.json and, from it, the model
    card (README.md)."""
    manifest = dict(manifest)
    manifest["files"] = {"model": MODEL_FILE, "tokenizer": TOKENIZER_FILE}
    manifest["runtime_wheel"] = write_runtime_wheel(folder)  # the runtime travels with the artifact
    shipped = [name for name in (MODEL_FILE, TOKENIZER_FILE, CONFIG_FILE) if (folder / name).is_file()]
    shipped.append(manifest["runtime_wheel"])
    shipped += sorted(f"{VARIANTS_DIR}/{path.name}" for path in (folder / VARIANTS_DIR).glob("*.onnx"))
    manifest["hashes"] = {
        name: {"sha256": file_sha256(folder / name), "bytes": (folder / name).stat().st_size} for name in shipped
    }
    manifest["serving_sha256"] = serving_sha256(manifest)  # labels, lengths, casing and files, as sealed
    write_manifest(folder, manifest)
    sealed = _with_schema(manifest)
    write_model_card(folder, sealed)
    return sealed


def remove_abandoned(destination: Path) -> None:
    """Remove the staging folders (`.NAME.partial-PID`, `.NAME.previous-PID`) that a killed run left beside
    `destination`: those whose process no longer exists. A live process's folder is its own business."""
    for leftover in Path(destination).parent.glob(f".{Path(destination).name}.*-*"):
        kind, _, pid = leftover.name.rpartition("-")
        if kind.endswith((".partial", ".previous")) and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


@contextmanager
def staged_artifact(destination: Path):
    """Yield a staging folder; on success it replaces `destination`, on error it is removed."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(destination)
    staging = destination.parent / f".{destination.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for leftover in staging.iterdir():
        if leftover.name in ARTIFACT_DIRS and leftover.is_dir():
            continue
        if leftover.name not in ARTIFACT_FILES:
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    previous = destination.parent / f".{destination.name}.previous-{os.getpid()}"
    if destination.exists():
        os.replace(destination, previous)
    os.replace(staging, destination)
    shutil.rmtree(previous, ignore_errors=True)


def check_output(output: Path, run_dir: Path) -> None:
    """Refuse an `--output` that is not a kdedge artifact already (it would be replaced) or is the run directory."""
    if output.exists() and not (output / "kdedge.json").is_file():
        raise ConfigError(
            f"output folder {output} exists and is not a kdedge artifact",
            hint="choose a new --output folder (an existing artifact is replaced, anything else is left alone)",
        )
    if output.resolve() == run_dir.resolve():
        raise ConfigError("--output and --run-dir must be different folders")
    if output.resolve() in run_dir.resolve().parents:
        raise ConfigError(f"--run-dir {run_dir} is inside --output {output}, which is replaced whole when the "
                          "artifact is written", hint="put the run directory beside the output folder")
    if output.is_dir():
        foreign = sorted(path.name for path in output.iterdir() if not _artifact_entry(path))
        if foreign:
            raise ConfigError(
                f"output folder {output} holds files kdedge did not write ({', '.join(foreign[:5])}"
                + (", ..." if len(foreign) > 5 else "") + "); it would replace the folder whole",
                hint="choose another --output, or move those files out")


def _artifact_entry(path: Path) -> bool:
    """Whether `path`, inside an artifact folder, is one of the things an artifact is made of."""
    if path.name in ARTIFACT_FILES:
        return path.is_file()
    if path.name in ARTIFACT_DIRS and path.is_dir():
        return all(child.is_file() and child.suffix == ARTIFACT_DIRS[path.name] for child in path.iterdir())
    return False
