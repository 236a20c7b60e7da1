"""Triton Python backend: texts to the student's ids, padded to max_length so that requests batch.

Inputs: `text` (TYPE_STRING, [batch, 1]). Outputs: `input_ids`, `attention_mask` (and `token_type_ids`
when the ONNX model takes it), INT64 [batch, max_length]; `word_firsts` INT64 [batch, max_length] (each
word's first token, -1 for none and past the last word); `truncated` BOOL [batch, 1]. The encoding is
kdedge-runtime's `TextEncoder` read from the artifact's tokenizer.json and kdedge.json beside this file.
"""

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from kdedge_runtime.encoding import TextEncoder
from kdedge_runtime.manifest import read_manifest
from kdedge_runtime.triton_models import answer_each


class TritonPythonModel:
    def initialize(self, args):
        folder = Path(args["model_repository"]) / args["model_version"]
        manifest = read_manifest(folder, require_files=False)
        self.max_length = manifest.max_length
        self.encoder = TextEncoder.from_file(folder / manifest.tokenizer_file, manifest.max_length,
                                             manifest.pad_token_id, manifest.casing_stride)
        self.by_words = any(task.task == "token-classification" for task in manifest.tasks)
        outputs = {output["name"] for output in json.loads(args["model_config"])["output"]}
        self.token_types = "token_type_ids" in outputs

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        encoded = self.encoder.encode_flagged(texts, by_words=self.by_words)
        count = len(texts)
        ids = np.full((count, self.max_length), self.encoder.pad_token_id, dtype=np.int64)
        mask = np.zeros((count, self.max_length), dtype=np.int64)
        firsts = np.full((count, self.max_length), -1, dtype=np.int64)
        for row, text_ids in enumerate(encoded.ids):
            ids[row, : len(text_ids)] = text_ids
            mask[row, : len(text_ids)] = 1
            if encoded.firsts is not None:
                firsts[row, : len(encoded.firsts[row])] = encoded.firsts[row]
        tensors = {"input_ids": ids, "attention_mask": mask, "word_firsts": firsts,
                   "truncated": np.array(encoded.truncated, dtype=bool).reshape(count, 1)}
        if self.token_types:
            tensors["token_type_ids"] = np.zeros_like(ids)
        return tensors

    def execute(self, requests):
        return answer_each(requests, pb_utils, lambda request, texts: self.encode(texts))
