"""`kdedge-runtime export-triton ARTIFACT OUT`: a Triton Inference Server model repository.

    OUT/NAME_tokenizer/   Python backend: texts to ids padded to max_length (kdedge's own encoding)
    OUT/NAME_model/       onnxruntime_onnx: the artifact's ONNX model, with dynamic batching
    OUT/NAME_postprocess/ Python backend: logits to labels, probabilities, entities
    OUT/NAME/             the ensemble of the three: `text` in, the V2 route's outputs out

Send texts to the ensemble NAME as a TYPE_STRING tensor `text` of shape [n, 1]; it answers with the
outputs `kdedge-runtime serve` gives on `/v2/models/NAME/infer` (see `v2.py`), except that `tags` and
`tag_scores` are always max_length wide. The ids are padded to max_length so that Triton's dynamic
batcher can put requests together (it batches tensors of one shape only). The two Python models import
kdedge-runtime: install it in Triton's Python environment (`pip install kdedge-runtime`, or the wheel).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kdedge_runtime.errors import ArtifactError, InputError
from kdedge_runtime.manifest import MANIFEST_NAME, read_manifest, read_verified, verify_serving_fields
from kdedge_runtime.results import TOKEN
from kdedge_runtime.v2 import output_specs

DATATYPES = {"BYTES": "TYPE_STRING", "FP32": "TYPE_FP32", "BOOL": "TYPE_BOOL", "INT64": "TYPE_INT64"}


@dataclass(frozen=True)
class TritonConfig:
    name: str  # the ensemble's name; its parts are NAME_tokenizer, NAME_model, NAME_postprocess
    max_batch_size: int = 64
    max_queue_delay_microseconds: int = 1000  # the ONNX model's dynamic batcher
    instances: int = 1  # CPU instances of the ONNX model


def _tensor(name: str, datatype: str, dims: list[int]) -> str:
    return f'  {{ name: "{name}" data_type: {DATATYPES.get(datatype, datatype)} dims: [ {", ".join(map(str, dims))} ] }}'


def _tensors(kind: str, tensors: list[tuple[str, str, list[int]]]) -> str:
    return f"{kind} [\n" + ",\n".join(_tensor(*tensor) for tensor in tensors) + "\n]\n"


def _header(name: str, backend: str, config: TritonConfig) -> str:
    kind = 'platform: "ensemble"' if backend == "ensemble" else f'backend: "{backend}"'
    return f'name: "{name}"\n{kind}\nmax_batch_size: {config.max_batch_size}\n'


def _map(pairs: list[tuple[str, str]], kind: str) -> str:
    return "".join(f'      {kind} {{ key: "{key}" value: "{value}" }}\n' for key, value in pairs)


def export_triton(artifact_dir: str | Path, out_dir: str | Path, config: TritonConfig | None = None) -> Path:
    """Write the model repository for `artifact_dir` into `out_dir` (new or empty); returns `out_dir`."""
    import onnxruntime as ort

    folder, out = Path(artifact_dir), Path(out_dir)
    manifest = read_manifest(folder)
    verify_serving_fields(folder, manifest)
    # read and checked once: these bytes are inspected and written into the repository
    model_bytes = read_verified(folder, manifest.model_file, manifest)
    tokenizer_bytes = read_verified(folder, manifest.tokenizer_file, manifest)
    config = config or TritonConfig(name=folder.resolve().name)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty: give export-triton a new or empty folder")
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    inputs = [item.name for item in session.get_inputs()]
    unknown = [name for name in inputs if name not in ("input_ids", "attention_mask", "token_type_ids")]
    if unknown:
        raise ArtifactError(f"{manifest.model_file} takes an input {unknown[0]!r} that kdedge's tokenizer model "
                            "does not make")
    length, tasks = manifest.max_length, manifest.tasks
    logits = [(task.output, "FP32", [-1, len(task.labels)] if task.task == TOKEN else [len(task.labels)])
              for task in tasks]
    results = []
    for spec in output_specs(tasks):
        dims = [length] if spec.name.endswith(("tags", "tag_scores")) else [spec.shape[1]] if len(spec.shape) > 1 \
            else [1]
        results.append((spec.name, spec.datatype, dims))
    names = {part: f"{config.name}_{part}" for part in ("tokenizer", "model", "postprocess")}
    tokens = [(name, "INT64", [length]) for name in inputs]

    out.mkdir(parents=True, exist_ok=True)
    written = {}
    written[names["tokenizer"]] = (
        _header(names["tokenizer"], "python", config) + _tensors("input", [("text", "BYTES", [1])])
        + _tensors("output", [*tokens, ("word_firsts", "INT64", [length]), ("truncated", "BOOL", [1])])
        + "instance_group [ { kind: KIND_CPU } ]\n")
    written[names["model"]] = (
        _header(names["model"], "onnxruntime", config) + 'default_model_filename: "model.onnx"\n'
        + _tensors("input", [(name, "INT64", [-1]) for name in inputs]) + _tensors("output", logits)
        + f"dynamic_batching {{ max_queue_delay_microseconds: {config.max_queue_delay_microseconds} }}\n"
        + f"instance_group [ {{ count: {config.instances} kind: KIND_CPU }} ]\n")
    written[names["postprocess"]] = (
        _header(names["postprocess"], "python", config)
        + _tensors("input", [("text", "BYTES", [1]), *logits, ("word_firsts", "INT64", [length]),
                             ("truncated_in", "BOOL", [1])])
        + _tensors("output", results) + "instance_group [ { kind: KIND_CPU } ]\n")
    steps = [
        (names["tokenizer"], [("text", "text")], [(n, n) for n in inputs] + [("word_firsts", "word_firsts"),
                                                                           ("truncated", "truncated_flag")]),
        (names["model"], [(n, n) for n in inputs], [(task.output, task.output) for task in tasks]),
        (names["postprocess"], [("text", "text"), *[(task.output, task.output) for task in tasks],
                                ("word_firsts", "word_firsts"), ("truncated_in", "truncated_flag")],
         [(name, name) for name, _, _ in results]),
    ]
    ensemble = _header(config.name, "ensemble", config) + _tensors("input", [("text", "BYTES", [1])]) + \
        _tensors("output", results) + "ensemble_scheduling {\n  step [\n" + ",\n".join(
            f'    {{\n      model_name: "{model}"\n      model_version: -1\n{_map(ins, "input_map")}'
            f'{_map(outs, "output_map")}    }}' for model, ins, outs in steps) + "\n  ]\n}\n"
    written[config.name] = ensemble
    for model, text in written.items():
        (out / model / "1").mkdir(parents=True, exist_ok=True)
        (out / model / "config.pbtxt").write_text(text, encoding="utf-8")
    (out / names["model"] / "1" / "model.onnx").write_bytes(model_bytes)
    code = resources.files("kdedge_runtime.triton_models")
    for part in ("tokenizer", "postprocess"):
        version = out / names[part] / "1"
        (version / "model.py").write_text(code.joinpath(f"{part}.py").read_text(encoding="utf-8"), encoding="utf-8")
        shutil.copyfile(folder / MANIFEST_NAME, version / MANIFEST_NAME)
        (version / manifest.tokenizer_file).write_bytes(tokenizer_bytes)
    return out
