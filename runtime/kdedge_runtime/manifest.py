"""Read and check an artifact's `kdedge.json` manifest, and the files it records."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from kdedge_runtime.errors import ArtifactError

__all__ = ["ArtifactError", "Manifest", "TaskOutput", "read_manifest", "verify_file", "schema_version"]

SCHEMA_VERSION = 2  # the newest kdedge.json this runtime reads; it reads every version from 1 up
MANIFEST_NAME = "kdedge.json"


def schema_version(manifest: dict) -> int:
    """The oldest schema that can serve `manifest` right, which kdedge writes so that older runtimes keep
    serving what they can: 2 when ids carry word casing (`casing_stride`; a runtime of schema 1 would
    feed the model plain ids), else 1."""
    return 2 if manifest.get("casing_stride") else 1


MULTI_TASK = "multi-task"


@dataclass(frozen=True)
class TaskOutput:
    """One task an artifact answers: its name ("" in a single-task artifact), kind, labels and ONNX output."""

    name: str
    task: str
    labels: tuple[str, ...]
    output: str


@dataclass(frozen=True)
class Manifest:
    """The part of `kdedge.json` the runtime needs to serve a model."""

    task: str
    labels: tuple[str, ...]
    max_length: int
    pad_token_id: int
    model_file: str
    tokenizer_file: str
    raw: dict
    tasks: tuple[TaskOutput, ...] = ()  # one per output; a single-task artifact has one, named ""
    casing_stride: int = 0  # > 0: the model reads word casing folded into the ids (encoding.TextEncoder)

    @property
    def multitask(self) -> bool:
        return self.task == MULTI_TASK


def read_manifest(artifact_dir: str | Path, require_files: bool = True) -> Manifest:
    """The manifest of `artifact_dir`, checked; with `require_files`, its model and tokenizer must exist."""
    folder = Path(artifact_dir)
    path = folder / MANIFEST_NAME
    if not folder.exists():
        raise ArtifactError(f"{folder} does not exist: give the folder `kdedge compress --output` wrote")
    if not path.is_file():
        raise ArtifactError(f"{folder} is not a kdedge artifact: {MANIFEST_NAME} is missing")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc})") from exc
    version = raw.get("schema")
    if type(version) is not int or not 1 <= version <= SCHEMA_VERSION:
        raise ArtifactError(
            f"{path} has schema version {version!r}; this kdedge-runtime reads versions 1 to {SCHEMA_VERSION}"
            " (upgrade kdedge-runtime, or re-export the artifact with a matching kdedge)"
        )
    try:
        if raw["task"] == MULTI_TASK:
            tasks = tuple(TaskOutput(str(t["name"]), t["task"], tuple(t["labels"]), t["output"]) for t in raw["tasks"])
        else:
            tasks = (TaskOutput("", raw["task"], tuple(raw["labels"]), (raw.get("outputs") or ["logits"])[0]),)
        manifest = Manifest(
            task=raw["task"],
            labels=tuple(raw.get("labels", ())),
            max_length=int(raw["max_length"]),
            pad_token_id=int(raw["pad_token_id"]),
            model_file=raw["files"]["model"],
            tokenizer_file=raw["files"]["tokenizer"],
            raw=raw,
            tasks=tasks,
            casing_stride=int(raw.get("casing_stride", 0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path} lacks a required field ({exc})") from exc
    for name in (manifest.model_file, manifest.tokenizer_file) if require_files else ():
        if not (folder / name).is_file():
            raise ArtifactError(f"{folder} is incomplete: {name} is missing")
    return manifest


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(folder: str | Path, name: str, manifest: Manifest) -> None:
    """Check `folder/name` against the size and SHA-256 that kdedge.json records for it; a file it does
    not record (an artifact still being assembled, or one from before hashes) is not checked."""
    expected = (manifest.raw.get("hashes") or {}).get(name)
    if expected is None:
        return
    path = Path(folder) / name
    size = path.stat().st_size
    if size != expected.get("bytes"):
        found = f"{size:,} bytes where kdedge.json records {expected.get('bytes'):,}"
    elif file_sha256(path) != expected.get("sha256"):
        found = "its SHA-256 differs from the one kdedge.json records"
    else:
        return
    raise ArtifactError(f"{name} in {folder} was changed or damaged ({found}): copy the artifact folder again, "
                        "or re-run kdedge compress")
