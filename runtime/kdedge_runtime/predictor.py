"""Load an artifact folder and classify texts with onnxruntime."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from kdedge_runtime.bio import spans
from kdedge_runtime.encoding import TextEncoder, length_buckets
from kdedge_runtime.errors import ArtifactError, InputError
from kdedge_runtime.manifest import MULTI_TASK, TaskOutput, read_manifest, read_verified, verify_serving_fields
from kdedge_runtime.results import SEQUENCE, TOKEN, Entity, Prediction, as_json

__all__ = ["Predictor", "Prediction", "Entity", "as_json", "SEQUENCE", "TOKEN", "SUPPORTED_TASKS"]
SUPPORTED_TASKS = (SEQUENCE, TOKEN)
LOG = logging.getLogger(__name__)


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
        unsealed: bool = False,
    ):
        """`unsealed` is for kdedge itself, on an artifact it is still assembling: files without hashes yet
        and no serving_sha256 are accepted. Anything served is sealed."""
        folder = Path(artifact_dir)
        self.folder = folder
        self.manifest = read_manifest(folder)
        for task in self.manifest.tasks:
            if task.task not in SUPPORTED_TASKS:
                raise ArtifactError(
                    f"task {task.task!r} is not supported by this runtime; supported: {', '.join(SUPPORTED_TASKS)}, "
                    f"and {MULTI_TASK} artifacts of them"
                )
        if not unsealed:
            verify_serving_fields(folder, self.manifest)
        _warn_on_another_onnxruntime(folder, self.manifest)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        model_name = model_file or self.manifest.model_file
        # the bytes checked are the bytes loaded: no second open between the hash and the session
        model_bytes = read_verified(folder, model_name, self.manifest, require_hash=not unsealed)
        tokenizer_bytes = read_verified(folder, self.manifest.tokenizer_file, self.manifest, require_hash=not unsealed)
        try:
            self._session = ort.InferenceSession(model_bytes, options, providers=providers or ["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime's own types: InvalidProtobuf, InvalidGraph, Fail, ...
            raise ArtifactError(f"{model_name} in {folder} cannot be loaded by onnxruntime "
                                f"({type(error).__name__}: {_first_line(error)}): copy the artifact folder again, "
                                "or re-run kdedge compress") from None
        model_path = folder / model_name
        self._input_names = [item.name for item in self._session.get_inputs()]
        outputs = [item.name for item in self._session.get_outputs()]
        missing = [task.output for task in self.manifest.tasks if task.output not in outputs]
        if missing:
            raise ArtifactError(f"{model_path.name} has no output {missing[0]!r} (its outputs: {', '.join(outputs)})")
        try:
            self._encoder = TextEncoder(
                Tokenizer.from_str(tokenizer_bytes.decode("utf-8")), self.manifest.max_length,
                self.manifest.pad_token_id, self.manifest.casing_stride,
            )
        except Exception as error:  # tokenizers raises a plain Exception for a file it cannot parse
            raise ArtifactError(f"{self.manifest.tokenizer_file} in {folder} is not a tokenizer the tokenizers "
                                f"library can read ({_first_line(error)}): copy the artifact folder again, "
                                "or re-run kdedge compress") from None
        self.labels = list(self.manifest.labels)
        self._model_seconds, self._clock = 0.0, threading.Lock()
        self._threads = threads
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

    @property
    def threads(self) -> int | None:
        """onnxruntime's intra-op threads per model call, as asked (None: onnxruntime's choice, all cores)."""
        return self._threads

    def logits(self, texts: Iterable[str], batch_size: int = 32) -> np.ndarray | dict[str, np.ndarray]:
        """Raw model outputs in the order of `texts`: [texts, labels] for sequence classification;
        for token classification [texts, max_length, labels], one row per whitespace-separated word
        (read at its first sub-token), zero for a word with no token (zero-width, or cut off by
        truncation) and after the text's last word. A multi-task artifact gives a dict of these."""
        results, _, _ = self._run_texts(_checked_texts(texts), batch_size)
        if not self.manifest.multitask:
            return results[self.manifest.tasks[0].output]
        return {task.name: results[task.output] for task in self.manifest.tasks}

    def _run_texts(self, texts: list[str], batch_size: int) -> tuple[dict[str, np.ndarray], list | None, list[bool]]:
        """Every output's logits by output name; (when any output is per word) each text's words'
        first-token positions, -1 for a word without a token (TextEncoder.encode_words); and whether
        each text was truncated."""
        if batch_size < 1:
            raise InputError(f"batch_size is {batch_size}: it must be at least 1")
        results = {}
        for task in self.manifest.tasks:
            shape = (len(texts), self.manifest.max_length, len(task.labels)) if task.task == TOKEN else (
                len(texts), len(task.labels))
            results[task.output] = np.zeros(shape, dtype=np.float32)
        firsts, truncated = None, [False] * len(texts)
        if texts:
            encoded = self._encoder.encode_flagged(texts, by_words=self._by_words)
            id_lists, firsts, truncated = encoded.ids, encoded.firsts, encoded.truncated
            for batch in length_buckets(id_lists, batch_size):
                outputs = self.run_all(*self._encoder.pad([id_lists[i] for i in batch]))
                in_order = batch == list(range(len(texts)))  # one bucket, unsorted: the outputs are the results
                for task in self.manifest.tasks:
                    output = outputs[task.output]
                    if task.task == TOKEN:
                        results[task.output][batch] = by_word(output, [firsts[i] for i in batch], self.manifest.max_length)
                    elif in_order:
                        results[task.output] = output.astype(np.float32, copy=False)
                    else:
                        results[task.output][batch] = output
        return results, firsts, truncated

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

    def predict(self, texts: Iterable[str], batch_size: int = 32) -> list[Prediction]:
        """One typed `Prediction` per text, in order (any iterable of strings, a generator included):
        sequence classification fills `label`, `score` and `probabilities`; token classification
        `entities` (BIO-repaired, with character offsets), `tags` and `tag_scores`; a multi-task artifact
        `tasks`, one such result per task. `truncated` flags a text cut at the model's max_length."""
        texts = _checked_texts(texts)
        results, firsts, truncated = self._run_texts(texts, batch_size)
        decoded = {task.name: decode(task, texts, results[task.output], firsts, truncated)
                   for task in self.manifest.tasks}
        return assemble(self.manifest, decoded, truncated)


def assemble(manifest, decoded: dict[str, list[Prediction]], truncated: list[bool]) -> list[Prediction]:
    """Each text's result from every task's decoded results: the one task's for a single-task artifact,
    a `Prediction` holding them all (`tasks`) for a multi-task one."""
    if not manifest.multitask:
        return decoded[manifest.tasks[0].name]
    return [Prediction(truncated=flag, tasks={name: found[row] for name, found in decoded.items()}, task=MULTI_TASK)
            for row, flag in enumerate(truncated)]


def by_word(output: np.ndarray, firsts: list[list[int]], max_length: int) -> np.ndarray:
    """A token-level output [texts, tokens, labels] read at each word's first token: [texts, max_length,
    labels], zero for a word with no token (-1 in `firsts`) and after the text's last word."""
    result = np.zeros((output.shape[0], max_length, output.shape[-1]), dtype=np.float32)
    for row, first in enumerate(firsts):
        positions = np.asarray(first, dtype=np.int64)
        words = np.flatnonzero(positions >= 0)  # by word index: a word without a token stays 0
        result[row, words] = output[row, positions[words]]
    return result


def decode(task: TaskOutput, texts: list[str], logits: np.ndarray, firsts: list | None,
           truncated: list[bool]) -> list[Prediction]:
    """Typed results of one task from its logits ([texts, labels], or by word [texts, words, labels] for
    token classification with each text's `firsts`): softmax, the best label, BIO-repaired entities."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=-1, keepdims=True)
    best = probabilities.argmax(axis=-1)
    if task.task != TOKEN:
        rows = probabilities.tolist()
        return [Prediction(task.labels[k], rows[row][k], dict(zip(task.labels, rows[row], strict=True)),
                           truncated=truncated[row]) for row, k in enumerate(best.tolist())]
    return [_tagged(task.labels, text, best[row], probabilities[row], firsts[row], truncated[row])
            for row, text in enumerate(texts)]


def _tagged(labels: tuple[str, ...], text: str, best: np.ndarray, probabilities: np.ndarray,
            firsts: list[int], truncated: bool) -> Prediction:
    """Entities, tags and tag scores from per-word predictions. Word i of `best` is the text's i-th
    whitespace-separated piece (`firsts` has one entry per word); a word without a token (-1) is tagged
    O, not given a label, and its tag score is 0."""
    words = [(match.start(), match.end()) for match in re.finditer(r"\S+", text)][: len(firsts)]
    tags = [labels[k] if first >= 0 else "O" for k, first in zip(best, firsts, strict=False)]
    scores = [float(probabilities[i, best[i]]) if first >= 0 else 0.0 for i, first in enumerate(firsts)]
    found = []
    for span in spans(tags):
        start, end = words[span.start][0], words[span.end - 1][1]
        score = float(np.mean([probabilities[i, best[i]] for i in range(span.start, span.end)]))
        found.append(Entity(span.label, start, end, text[start:end], score))
    return Prediction(entities=tuple(found), tags=tuple(tags), tag_scores=tuple(scores), truncated=truncated,
                      task=TOKEN)


def _checked_texts(texts: Iterable[str]) -> list[str]:
    """`texts` as a list, read once (a generator is fine); InputError for anything but strings."""
    if isinstance(texts, (str, bytes)):
        raise InputError("predict() takes a list of texts, not a single string: wrap it as [text]")
    try:
        texts = list(texts)
    except TypeError:
        raise InputError(f"predict() takes an iterable of texts, not {type(texts).__name__}") from None
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"text #{position} is {type(text).__name__}, not str")
    return texts


def _warn_on_another_onnxruntime(folder: Path, manifest) -> None:
    """The variant and its gates were chosen under one onnxruntime; kernels (INT8 above all) differ between
    versions, so serving under another is worth a warning, not a refusal."""
    built = (manifest.raw.get("machine") or {}).get("onnxruntime")
    if built and built != ort.__version__:
        LOG.warning("%s was gated under onnxruntime %s and is served under %s: results may differ slightly "
                    "(install onnxruntime==%s, the version its wheel in runtime/ pins, to serve it as tested)",
                    folder, built, ort.__version__, built)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0][:200]
