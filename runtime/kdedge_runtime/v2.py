"""The Open Inference Protocol (KServe V2, spoken by Triton and MLServer) for a kdedge artifact.

Request: one `BYTES` input named `text`, shape `[n]` or `[n, 1]`, its elements the texts (UTF-8), in
JSON (`"data": ["a text", ...]`) or in the binary tensor data extension (`Inference-Header-Content-
Length` header; each element a 4-byte little-endian length and its bytes).

Outputs, per text (n rows), for each task of the artifact (a multi-task artifact prefixes each output
with its task's name and a dot, e.g. `sentiment.label`, `ner.entities`):

| task | output | datatype | shape | what |
|---|---|---|---|---|
| sequence classification | `label` | BYTES | [n] | the most likely label |
| | `probabilities` | FP32 | [n, labels] | every label's probability, in the model metadata's label order |
| token classification | `entities` | BYTES | [n] | a JSON array of {label, start, end, text, score} per text |
| | `tags` | BYTES | [n, words] | each word's BIO tag ("" past a text's last word) |
| | `tag_scores` | FP32 | [n, words] | the probability of each word's tag (0 past the last word) |
| every artifact | `truncated` | BOOL | [n] | the text was longer than the model's max_length |

`words` is the largest number of whitespace-separated words among the request's texts (at most the
model's max_length). Outputs come back in JSON unless asked for in binary (`"binary_data": true` on a
requested output, or `"binary_data_output": true` in the request's parameters, as tritonclient sends).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kdedge_runtime.results import MULTI_TASK, SEQUENCE, TOKEN, Prediction

HEADER_LENGTH = "Inference-Header-Content-Length"
INPUT_NAME = "text"
EXTENSIONS = ["binary_tensor_data"]


class ProtocolError(Exception):
    """A V2 request that cannot be served: `status` (4xx) and a message that says what to change."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class OutputSpec:
    name: str
    datatype: str
    shape: list[int]  # -1 for a dimension that depends on the request


@dataclass(frozen=True)
class InferRequest:
    texts: list[str]
    id: str | None
    outputs: dict[str, bool] | None  # requested output -> in binary; None: every output
    binary_output: bool  # the default for outputs not named (parameters.binary_data_output)


def output_specs(tasks: Sequence) -> list[OutputSpec]:
    """The outputs an artifact's V2 model has, from its manifest's tasks (TaskOutput)."""
    specs = []
    multitask = len(tasks) > 1 or (tasks and tasks[0].name)
    for task in tasks:
        prefix = f"{task.name}." if multitask else ""
        if task.task == TOKEN:
            specs += [OutputSpec(prefix + "entities", "BYTES", [-1]), OutputSpec(prefix + "tags", "BYTES", [-1, -1]),
                      OutputSpec(prefix + "tag_scores", "FP32", [-1, -1])]
        else:
            specs += [OutputSpec(prefix + "label", "BYTES", [-1]),
                      OutputSpec(prefix + "probabilities", "FP32", [-1, len(task.labels)])]
    return [*specs, OutputSpec("truncated", "BOOL", [-1])]


def model_metadata(name: str, tasks: Sequence, raw_manifest: dict) -> dict:
    """`GET /v2/models/{name}`: the model's inputs and outputs, and (a kdedge extra) each task's labels."""
    return {
        "name": name, "versions": ["1"], "platform": "kdedge_onnxruntime",
        "inputs": [{"name": INPUT_NAME, "datatype": "BYTES", "shape": [-1]}],
        "outputs": [{"name": spec.name, "datatype": spec.datatype, "shape": spec.shape} for spec in output_specs(tasks)],
        "parameters": {"labels": {task.name or "": list(task.labels) for task in tasks},
                       "max_length": raw_manifest.get("max_length"), "variant": raw_manifest.get("variant")},
    }


def parse_infer_request(body: bytes, header_length: str | None, max_texts: int, max_text_chars: int) -> InferRequest:
    """The texts and output choices of a `POST /v2/models/{name}/infer` body, or a ProtocolError."""
    if header_length is not None:
        if not header_length.strip().isdigit() or int(header_length) > len(body):
            raise ProtocolError(400, f"{HEADER_LENGTH} {header_length!r} is not a byte count within the body "
                                     f"of {len(body):,} bytes")
        header, binary = body[: int(header_length)], body[int(header_length):]
    else:
        header, binary = body, b""
    try:
        request = json.loads(header)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ProtocolError(400, f"the inference header is not valid JSON: {error}") from None
    except (RecursionError, ValueError) as error:  # nesting, or an integer of too many digits
        raise ProtocolError(400, f"the inference header cannot be read ({type(error).__name__}): send plain JSON "
                                 'such as {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], '
                                 '"data": ["hello"]}]}') from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise ProtocolError(400, 'the request needs "inputs": a list with one BYTES tensor named "text"')
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError(400, '"id" must be a string')
    inputs = [item for item in request["inputs"] if isinstance(item, dict)]
    named = [item for item in inputs if item.get("name") == INPUT_NAME]
    if len(inputs) != len(request["inputs"]) or not named:
        found = ", ".join(repr(item.get("name")) for item in inputs) or "none"
        raise ProtocolError(400, f'missing input "{INPUT_NAME}" (found {found}): send the texts as one BYTES '
                                 f'tensor named "{INPUT_NAME}"')
    if len(inputs) > 1:
        raise ProtocolError(400, f'the model takes one input, "{INPUT_NAME}"; the request has {len(inputs)}')
    texts = _input_texts(named[0], binary, max_texts, max_text_chars)
    parameters = request.get("parameters") if isinstance(request.get("parameters"), dict) else {}
    outputs = None
    if request.get("outputs") is not None:
        if not isinstance(request["outputs"], list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                                                               for o in request["outputs"]):
            raise ProtocolError(400, '"outputs" must be a list of objects with a "name"')
        outputs = {o["name"]: bool((o.get("parameters") or {}).get("binary_data", False)) for o in request["outputs"]}
    return InferRequest(texts, request_id, outputs, bool(parameters.get("binary_data_output", False)))


def _input_texts(tensor: dict, binary: bytes, max_texts: int, max_text_chars: int) -> list[str]:
    if tensor.get("datatype") != "BYTES":
        raise ProtocolError(400, f'input "{INPUT_NAME}" has datatype {tensor.get("datatype")!r}: texts are BYTES')
    shape = tensor.get("shape")
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 2 or not all(type(d) is int and d >= 0 for d in shape)
            or (len(shape) == 2 and shape[1] != 1)):
        raise ProtocolError(400, f'input "{INPUT_NAME}" has shape {shape!r}: send [n] or [n, 1] for n texts')
    count = shape[0]
    if count > max_texts:
        raise ProtocolError(413, f"{count} texts in one request; the limit is {max_texts}: split the batch")
    size = (tensor.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        if type(size) is not int or size < 0 or size != len(binary):
            raise ProtocolError(400, f"binary_data_size {size!r} does not match the {len(binary):,} bytes after the "
                                     "inference header")
        elements = _unpack_bytes(binary, count)
    else:
        if binary:
            raise ProtocolError(400, "the body has binary data but the input declares no binary_data_size")
        elements = _flatten(tensor.get("data"))
    if len(elements) != count:
        raise ProtocolError(400, f'input "{INPUT_NAME}" has shape {shape} but {len(elements)} elements')
    texts = []
    for position, element in enumerate(elements):
        if isinstance(element, bytes):
            try:
                element = element.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(400, f"text #{position} is not UTF-8") from None
        if not isinstance(element, str):
            raise ProtocolError(400, f'text #{position} is {type(element).__name__}: BYTES data are strings')
        if not element.strip():
            raise ProtocolError(400, f"text #{position} is empty")
        if len(element) > max_text_chars:
            raise ProtocolError(413, f"text #{position} has {len(element):,} characters; the limit is "
                                     f"{max_text_chars:,}")
        if not element.isascii():
            try:
                element.encode("utf-8")
            except UnicodeEncodeError:
                raise ProtocolError(400, f"text #{position} is not valid Unicode (a lone surrogate)") from None
        texts.append(element)
    if not texts:
        raise ProtocolError(400, f'input "{INPUT_NAME}" is empty: send at least one text')
    return texts


def _flatten(data) -> list:
    if not isinstance(data, list):
        raise ProtocolError(400, f'input "{INPUT_NAME}" needs "data": a list of strings (or binary data)')
    flat = []
    for item in data:
        if isinstance(item, list):
            if any(isinstance(inner, list) for inner in item):
                raise ProtocolError(400, f'input "{INPUT_NAME}" data nests deeper than its shape allows')
            flat.extend(item)
        else:
            flat.append(item)
    return flat


def _unpack_bytes(binary: bytes, count: int) -> list[bytes]:
    """The elements of a serialized BYTES tensor: each a 4-byte little-endian length, then its bytes."""
    elements, offset = [], 0
    while offset < len(binary):
        if offset + 4 > len(binary):
            raise ProtocolError(400, "the binary BYTES tensor ends inside an element's length")
        (length,) = struct.unpack_from("<I", binary, offset)
        offset += 4
        if offset + length > len(binary):
            raise ProtocolError(400, f"the binary BYTES tensor's element #{len(elements)} claims {length:,} bytes, "
                                     "past its end")
        elements.append(binary[offset : offset + length])
        offset += length
        if len(elements) > count:
            break
    return elements


def pack_bytes(values: Sequence[str]) -> bytes:
    """A BYTES tensor in the binary format (row-major): 4-byte little-endian length, then the UTF-8 bytes."""
    parts = []
    for value in values:
        encoded = value.encode("utf-8")
        parts += [struct.pack("<I", len(encoded)), encoded]
    return b"".join(parts)


def result_tensors(predictions: list[Prediction], tasks: Sequence) -> dict[str, tuple[str, list[int], object]]:
    """Every output of `output_specs` for these results: name -> (datatype, shape, values), values a
    numpy array for FP32/BOOL and a flat list of strings for BYTES."""
    tensors: dict[str, tuple[str, list[int], object]] = {}
    multitask = len(tasks) > 1 or (tasks and tasks[0].name)
    count = len(predictions)
    for task in tasks:
        prefix = f"{task.name}." if multitask else ""
        rows = [p.tasks[task.name] if p.task == MULTI_TASK else p for p in predictions]
        if task.task == TOKEN:
            words = max([1, *(len(r.tags) for r in rows)])
            tags = [[*r.tags, *[""] * (words - len(r.tags))] for r in rows]
            scores = np.zeros((count, words), dtype=np.float32)
            for row, r in enumerate(rows):
                scores[row, : len(r.tag_scores)] = r.tag_scores
            entities = [json.dumps([{"label": e.label, "start": e.start, "end": e.end, "text": e.text,
                                     "score": e.score} for e in r.entities], ensure_ascii=False) for r in rows]
            tensors[prefix + "entities"] = ("BYTES", [count], entities)
            tensors[prefix + "tags"] = ("BYTES", [count, words], [tag for row in tags for tag in row])
            tensors[prefix + "tag_scores"] = ("FP32", [count, words], scores)
        else:
            assert task.task == SEQUENCE
            probabilities = np.array([[r.probabilities[label] for label in task.labels] for r in rows],
                                     dtype=np.float32).reshape(count, len(task.labels))
            tensors[prefix + "label"] = ("BYTES", [count], [r.label for r in rows])
            tensors[prefix + "probabilities"] = ("FP32", [count, len(task.labels)], probabilities)
    tensors["truncated"] = ("BOOL", [count], np.array([p.truncated for p in predictions], dtype=bool))
    return tensors


def check_outputs(request: InferRequest, names: Sequence[str]) -> None:
    """A ProtocolError for a requested output the model does not have (checked before inference)."""
    unknown = [name for name in request.outputs or () if name not in names]
    if unknown:
        raise ProtocolError(400, f"unknown output {unknown[0]!r}; the model's outputs: {', '.join(names)}")


def infer_response(model_name: str, request: InferRequest, tensors: dict) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary outputs follow it (else None). The
    requested outputs are among `tensors` (`check_outputs`)."""
    if request.outputs is not None:
        chosen = list(request.outputs.items())
    else:
        chosen = [(name, request.binary_output) for name in tensors]
    outputs, binaries = [], []
    for name, binary in chosen:
        datatype, shape, values = tensors[name]
        entry = {"name": name, "datatype": datatype, "shape": shape}
        if binary:
            data = pack_bytes(values) if datatype == "BYTES" else np.ascontiguousarray(values).astype(
                "<f4" if datatype == "FP32" else np.bool_).tobytes()
            entry["parameters"] = {"binary_data_size": len(data)}
            binaries.append(data)
        else:
            entry["data"] = values if datatype == "BYTES" else np.asarray(values).reshape(-1).tolist()
        outputs.append(entry)
    response = {"model_name": model_name, "model_version": "1", "outputs": outputs}
    if request.id is not None:
        response["id"] = request.id
    header = json.dumps(response, ensure_ascii=False).encode("utf-8")
    if not binaries:
        return header, None
    return header + b"".join(binaries), len(header)
