"""Triton Python backend: the ONNX model's logits to the outputs of kdedge-runtime's V2 route.

Inputs: `text` (TYPE_STRING, [batch, 1]), each task's logits under the ONNX output's name,
`word_firsts` and `truncated` from the tokenizer model. Outputs: those of `kdedge_runtime.v2` (label
and probabilities; entities, tags and tag_scores, the tags padded to max_length; truncated), decoded by
the same code as `Predictor.predict`.
"""

from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from kdedge_runtime.manifest import read_manifest
from kdedge_runtime.predictor import assemble, by_word, decode
from kdedge_runtime.results import TOKEN
from kdedge_runtime.triton_models import answer_each
from kdedge_runtime.v2 import result_tensors


class TritonPythonModel:
    def initialize(self, args):
        self.manifest = read_manifest(Path(args["model_repository"]) / args["model_version"], require_files=False)

    def outputs(self, texts: list[str], logits: dict[str, np.ndarray], firsts: np.ndarray,
                truncated: np.ndarray) -> dict[str, np.ndarray]:
        max_length = self.manifest.max_length
        words = [firsts[row, : min(len(text.split()), max_length)].tolist() for row, text in enumerate(texts)]
        flags = truncated.reshape(-1).astype(bool).tolist()
        decoded = {}
        for task in self.manifest.tasks:
            values = logits[task.output]
            if task.task == TOKEN:
                values = by_word(values, words, max_length)
            decoded[task.name] = decode(task, texts, values, words, flags)
        predictions = assemble(self.manifest, decoded, flags)
        tensors = {}
        for name, (datatype, shape, values) in result_tensors(predictions, self.manifest.tasks).items():
            array = np.array(values, dtype=np.object_ if datatype == "BYTES" else None).reshape(shape)
            if name.endswith("tags") or name.endswith("tag_scores"):  # fixed width for Triton: max_length
                padded = np.full((shape[0], max_length), "" if datatype == "BYTES" else 0,
                                 dtype=np.object_ if datatype == "BYTES" else np.float32)
                padded[:, : shape[1]] = array
                array = padded
            if datatype == "BYTES":
                array = np.vectorize(lambda value: value.encode("utf-8"), otypes=[np.object_])(array)
            tensors[name] = array.reshape(shape[0], -1) if array.ndim == 1 else array
        return tensors

    def execute(self, requests):
        def tensors_for(request, texts):
            def read(name):
                return pb_utils.get_input_tensor_by_name(request, name).as_numpy()

            logits = {task.output: read(task.output) for task in self.manifest.tasks}
            return self.outputs(texts, logits, read("word_firsts"), read("truncated_in"))

        return answer_each(requests, pb_utils, tensors_for)
