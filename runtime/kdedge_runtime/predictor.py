"""Load an artifact folder and classify texts with onnxruntime."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from kdedge_runtime.encoding import TextEncoder, length_buckets
from kdedge_runtime.manifest import ArtifactError, read_manifest

SUPPORTED_TASKS = ("sequence-classification",)


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float


class Predictor:
    """Serve one artifact. One instance is safe to share between threads.

    `providers` are onnxruntime execution providers (default: CPU); `threads` caps onnxruntime's
    intra-op threads (default: onnxruntime's choice).
    """

    def __init__(
        self,
        artifact_dir: str | Path,
        providers: list[str] | None = None,
        threads: int | None = None,
        model_file: str | None = None,
    ):
        folder = Path(artifact_dir)
        self.manifest = read_manifest(folder)
        if self.manifest.task not in SUPPORTED_TASKS:
            raise ArtifactError(
                f"task {self.manifest.task!r} is not supported by this runtime; supported: {', '.join(SUPPORTED_TASKS)}"
            )
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        model_path = folder / (model_file or self.manifest.model_file)
        self._session = ort.InferenceSession(
            str(model_path), options, providers=providers or ["CPUExecutionProvider"]
        )
        self._input_names = [item.name for item in self._session.get_inputs()]
        self._encoder = TextEncoder.from_file(
            folder / self.manifest.tokenizer_file, self.manifest.max_length, self.manifest.pad_token_id
        )
        self.labels = list(self.manifest.labels)

    def logits(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Raw model outputs [len(texts), num_labels], in the order of `texts`."""
        texts = _checked_texts(texts)
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        id_lists = self._encoder.encode(texts)
        result = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for batch in length_buckets(id_lists, batch_size):
            result[batch] = self.run(*self._encoder.pad([id_lists[i] for i in batch]))
        return result

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """The model on one already-tokenized, padded batch (int64 [batch, seq] each)."""
        feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self._input_names:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        return self._session.run(None, {name: feed[name] for name in self._input_names})[0]

    def predict(self, texts: list[str], batch_size: int = 32) -> list[Prediction]:
        """The most likely label of each text and its softmax probability."""
        logits = self.logits(texts, batch_size=batch_size)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        best = probabilities.argmax(axis=1)
        return [Prediction(self.labels[k], float(probabilities[row, k])) for row, k in enumerate(best)]


def _checked_texts(texts: list[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("predict() takes a list of texts, not a single string: wrap it as [text]")
    texts = list(texts)
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text #{position} is {type(text).__name__}, not str")
    return texts
