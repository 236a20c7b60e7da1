"""Read and check an artifact's `kdedge.json` manifest, and the files it records."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from kdedge_runtime.errors import ArtifactError

__all__ = ["ArtifactError", "Manifest", "TaskOutput", "read_manifest", "read_verified", "schema_version",
           "serving_sha256", "verify_serving_fields"]

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
        if not artifact_path(folder, name).is_file():
            raise ArtifactError(f"{folder} is incomplete: {name} is missing")
    return manifest


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


SERVING_FIELDS = ("task", "labels", "tasks", "outputs", "max_length", "pad_token_id", "casing_stride", "files")


def serving_sha256(raw: dict) -> str:
    """SHA-256 of the manifest fields that change what a served model answers (labels, lengths, casing,
    files): kdedge records it as `serving_sha256`, so an edited label list or max_length is refused."""
    fields = {key: raw.get(key) for key in SERVING_FIELDS}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def artifact_path(folder: str | Path, name: str) -> Path:
    """`folder/name`, which must stay inside `folder`: kdedge.json cannot point at `../x` or `/etc/x`."""
    if not isinstance(name, str) or not name or Path(name).is_absolute() or "\\" in name:
        raise ArtifactError(f"kdedge.json in {folder} names the file {name!r}: an artifact's files are relative paths "
                            "inside its folder; copy the artifact again, or re-run kdedge compress")
    root = Path(folder).resolve()
    path = (root / name).resolve()
    if root not in path.parents:
        raise ArtifactError(f"kdedge.json in {folder} names {name!r}, which is outside the artifact folder: copy the "
                            "artifact again, or re-run kdedge compress")
    return path


def read_verified(folder: str | Path, name: str, manifest: Manifest, require_hash: bool = True) -> bytes:
    """The bytes of `folder/name`, checked against the size and SHA-256 kdedge.json records for it: the
    bytes hashed are the bytes returned, so what is checked is what is loaded. A file kdedge.json does not
    hash is refused, unless `require_hash` is off (kdedge's own use on an artifact still being assembled)."""
    path = artifact_path(folder, name)
    expected = (manifest.raw.get("hashes") or {}).get(name)
    if expected is None and require_hash:
        raise ArtifactError(f"{name} in {folder} has no hash in kdedge.json, so it cannot be checked: copy the "
                            "artifact again, or re-run kdedge compress")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ArtifactError(f"{name} in {folder} cannot be read ({error.strerror})") from None
    if expected is None:
        return data
    if len(data) != expected.get("bytes"):
        found = f"{len(data):,} bytes where kdedge.json records {expected.get('bytes'):,}"
    elif hashlib.sha256(data).hexdigest() != expected.get("sha256"):
        found = "its SHA-256 differs from the one kdedge.json records"
    else:
        return data
    raise ArtifactError(f"{name} in {folder} was changed or damaged ({found}): copy the artifact folder again, "
                        "or re-run kdedge compress")


def verify_serving_fields(folder: str | Path, manifest: Manifest) -> None:
    """Refuse a kdedge.json whose labels, lengths, casing or files were edited after kdedge sealed it."""
    recorded = manifest.raw.get("serving_sha256")
    if recorded is None:
        raise ArtifactError(f"kdedge.json in {folder} has no serving_sha256, so its labels and lengths cannot be "
                            "checked: re-run kdedge compress (or kdedge export-teacher) with this kdedge")
    if recorded != serving_sha256(manifest.raw):
        raise ArtifactError(f"kdedge.json in {folder} was edited: its labels, lengths, casing or files no longer match "
                            "the serving_sha256 kdedge recorded; copy the artifact again, or re-run kdedge compress")
