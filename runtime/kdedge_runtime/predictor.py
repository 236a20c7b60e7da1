"""Load an artifact folder and classify texts with onnxruntime."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from kdedge_runtime.bio import spans
from kdedge_runtime.encoding import TextEncoder, length_buckets
from kdedge_runtime.manifest import ArtifactError, read_manifest

SEQUENCE, TOKEN = "sequence-classification", "token-classification"
SUPPORTED_TASKS = (SEQUENCE, TOKEN)


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float


@dataclass(frozen=True)
class Entity:
    """A named entity found in a text: `text[start:end]` is its surface form."""

    label: str  # the entity type, e.g. person
    start: int  # character offsets into the input text
    end: int
    text: str
    score: float  # mean over its words of the probability of each word's tag


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
        """Raw model outputs in the order of `texts`: [texts, labels] for sequence classification;
        for token classification [texts, max_length, labels], one row per whitespace-separated word
        (read at its first sub-token), zero after the text's last word."""
        texts = _checked_texts(texts)
        token = self.manifest.task == TOKEN
        shape = (len(texts), self.manifest.max_length, len(self.labels)) if token else (len(texts), len(self.labels))
        result = np.zeros(shape, dtype=np.float32)
        if not texts:
            return result
        id_lists, firsts = self._encoder.encode_words(texts) if token else (self._encoder.encode(texts), None)
        for batch in length_buckets(id_lists, batch_size):
            output = self.run(*self._encoder.pad([id_lists[i] for i in batch]))
            if not token:
                result[batch] = output
                continue
            for row, index in enumerate(batch):
                result[index, : len(firsts[index])] = output[row, firsts[index]]
        return result

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """The model on one already-tokenized, padded batch (int64 [batch, seq] each)."""
        feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self._input_names:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        return self._session.run(None, {name: feed[name] for name in self._input_names})[0]

    def predict(self, texts: list[str], batch_size: int = 32) -> list[Prediction] | list[list[Entity]]:
        """Sequence classification: the most likely label of each text and its probability.
        Token classification: the entities of each text, BIO-repaired, with character offsets."""
        logits = self.logits(texts, batch_size=batch_size)
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=-1, keepdims=True)
        best = probabilities.argmax(axis=-1)
        if self.manifest.task != TOKEN:
            return [Prediction(self.labels[k], float(probabilities[row, k])) for row, k in enumerate(best)]
        return [self._entities(text, best[row], probabilities[row]) for row, text in enumerate(texts)]

    def _entities(self, text: str, best: np.ndarray, probabilities: np.ndarray) -> list[Entity]:
        words = [(match.start(), match.end()) for match in re.finditer(r"\S+", text)][: len(best)]
        tags = [self.labels[k] for k in best[: len(words)]]
        found = []
        for span in spans(tags):
            start, end = words[span.start][0], words[span.end - 1][1]
            score = float(np.mean([probabilities[i, best[i]] for i in range(span.start, span.end)]))
            found.append(Entity(span.label, start, end, text[start:end], score))
        return found


def _checked_texts(texts: list[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("predict() takes a list of texts, not a single string: wrap it as [text]")
    texts = list(texts)
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text #{position} is {type(text).__name__}, not str")
    return texts
