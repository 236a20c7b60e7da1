"""Load an artifact folder and classify texts with onnxruntime."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from kdedge_runtime.bio import spans
from kdedge_runtime.encoding import TextEncoder, length_buckets
from kdedge_runtime.manifest import MULTI_TASK, ArtifactError, TaskOutput, read_manifest, verify_file

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
        for task in self.manifest.tasks:
            if task.task not in SUPPORTED_TASKS:
                raise ArtifactError(
                    f"task {task.task!r} is not supported by this runtime; supported: {', '.join(SUPPORTED_TASKS)}, "
                    f"and {MULTI_TASK} artifacts of them"
                )
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        model_name = model_file or self.manifest.model_file
        model_path = folder / model_name
        for name in (model_name, self.manifest.tokenizer_file):
            verify_file(folder, name, self.manifest)
        try:
            self._session = ort.InferenceSession(
                str(model_path), options, providers=providers or ["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime's own types: InvalidProtobuf, InvalidGraph, Fail, ...
            raise ArtifactError(f"{model_name} in {folder} cannot be loaded by onnxruntime "
                                f"({type(error).__name__}: {_first_line(error)}): copy the artifact folder again, "
                                "or re-run kdedge compress") from None
        self._input_names = [item.name for item in self._session.get_inputs()]
        outputs = [item.name for item in self._session.get_outputs()]
        missing = [task.output for task in self.manifest.tasks if task.output not in outputs]
        if missing:
            raise ArtifactError(f"{model_path.name} has no output {missing[0]!r} (its outputs: {', '.join(outputs)})")
        try:
            self._encoder = TextEncoder.from_file(
                folder / self.manifest.tokenizer_file, self.manifest.max_length, self.manifest.pad_token_id,
                self.manifest.casing_stride,
            )
        except Exception as error:  # tokenizers raises a plain Exception for a file it cannot parse
            raise ArtifactError(f"{self.manifest.tokenizer_file} in {folder} is not a tokenizer the tokenizers "
                                f"library can read ({_first_line(error)}): copy the artifact folder again, "
                                "or re-run kdedge compress") from None
        self.labels = list(self.manifest.labels)
        self._model_seconds, self._clock = 0.0, threading.Lock()
        # one tokenization per text: by words when any output is per word (the ids are those of the
        # whole text for a WordPiece tokenizer, and multi-task students train and export this way)
        self._by_words = any(task.task == TOKEN for task in self.manifest.tasks)

    @property
    def model_seconds(self) -> float:
        """Wall time spent inside the ONNX session so far, all calls and threads together: set it against
        the time of `predict` to see what share of serving is tokenization and post-processing."""
        return self._model_seconds

    @property
    def encoder(self) -> TextEncoder:
        """The artifact's tokenizer at its max_length, as the model was trained on it."""
        return self._encoder

    @property
    def tasks(self) -> list[str]:
        """The task names of a multi-task artifact (empty for a single-task one)."""
        return [task.name for task in self.manifest.tasks] if self.manifest.multitask else []

    def logits(self, texts: list[str], batch_size: int = 32) -> np.ndarray | dict[str, np.ndarray]:
        """Raw model outputs in the order of `texts`: [texts, labels] for sequence classification;
        for token classification [texts, max_length, labels], one row per whitespace-separated word
        (read at its first sub-token), zero for a word with no token (zero-width, or cut off by
        truncation) and after the text's last word. A multi-task artifact gives a dict of these."""
        results, _ = self._logits_and_words(texts, batch_size)
        if not self.manifest.multitask:
            return results[self.manifest.tasks[0].output]
        return {task.name: results[task.output] for task in self.manifest.tasks}

    def _logits_and_words(self, texts: list[str], batch_size: int) -> tuple[dict[str, np.ndarray], list | None]:
        """Every output's logits by output name, and (when any output is per word) each text's words'
        first-token positions, -1 for a word without a token (TextEncoder.encode_words)."""
        texts = _checked_texts(texts)
        results = {}
        for task in self.manifest.tasks:
            shape = (len(texts), self.manifest.max_length, len(task.labels)) if task.task == TOKEN else (
                len(texts), len(task.labels))
            results[task.output] = np.zeros(shape, dtype=np.float32)
        firsts = None
        if texts:
            id_lists, firsts = (self._encoder.encode_words(texts) if self._by_words
                                else (self._encoder.encode(texts), None))
            for batch in length_buckets(id_lists, batch_size):
                outputs = self.run_all(*self._encoder.pad([id_lists[i] for i in batch]))
                for task in self.manifest.tasks:
                    output, result = outputs[task.output], results[task.output]
                    if task.task != TOKEN:
                        result[batch] = output
                        continue
                    for row, index in enumerate(batch):
                        positions = np.asarray(firsts[index], dtype=np.int64)
                        words = np.flatnonzero(positions >= 0)  # by word index: a word without a token stays 0
                        result[index, words] = output[row, positions[words]]
        return results, firsts

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """The model on one already-tokenized, padded batch (int64 [batch, seq] each); the first output."""
        return next(iter(self.run_all(input_ids, attention_mask).values()))

    def run_all(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        """Every output of the model on one padded batch, by output name."""
        feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self._input_names:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        names = [task.output for task in self.manifest.tasks]
        started = time.perf_counter()
        values = self._session.run(names, {name: feed[name] for name in self._input_names})
        elapsed = time.perf_counter() - started
        with self._clock:
            self._model_seconds += elapsed
        return dict(zip(names, values, strict=True))

    def predict(self, texts: list[str], batch_size: int = 32) -> list:
        """Sequence classification: the most likely label of each text and its probability (`Prediction`).
        Token classification: the entities of each text, BIO-repaired, with character offsets.
        Multi-task: for each text, a dict from task name to that task's result."""
        results, firsts = self._logits_and_words(texts, batch_size)
        decoded = {task.name: self._decode(task, texts, results[task.output], firsts) for task in self.manifest.tasks}
        if not self.manifest.multitask:
            return decoded[self.manifest.tasks[0].name]
        return [{name: found[row] for name, found in decoded.items()} for row in range(len(texts))]

    def _decode(self, task: TaskOutput, texts: list[str], logits: np.ndarray, firsts: list | None) -> list:
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=-1, keepdims=True)
        best = probabilities.argmax(axis=-1)
        if task.task != TOKEN:
            return [Prediction(task.labels[k], float(probabilities[row, k])) for row, k in enumerate(best)]
        return [_entities(task.labels, text, best[row], probabilities[row], firsts[row])
                for row, text in enumerate(texts)]


def as_json(result) -> dict | list:
    """One text's result as plain JSON values: {"label", "score"}; a list of entities; or, for a
    multi-task artifact, {task name: either of those}."""
    if isinstance(result, dict):
        return {name: as_json(value) for name, value in result.items()}
    if isinstance(result, list):
        return [asdict(entity) for entity in result]
    return asdict(result)


def _entities(labels: tuple[str, ...], text: str, best: np.ndarray, probabilities: np.ndarray,
              firsts: list[int]) -> list[Entity]:
    """Entities from per-word predictions. Word i of `best` is the text's i-th whitespace-separated
    piece (`firsts` has one entry per word); a word without a token (-1) is tagged O, not given a label."""
    words = [(match.start(), match.end()) for match in re.finditer(r"\S+", text)][: len(firsts)]
    tags = [labels[k] if first >= 0 else "O" for k, first in zip(best, firsts, strict=False)]
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


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0][:200]
