"""Running a model over texts: a student's or teacher's logits, and the teacher's cached outputs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from kdedge.data.batching import inference_batches
from kdedge.data.tasks import SEQUENCE, TOKEN, gather_words
from kdedge.progress import Reporter
from kdedge.teacher.cache import hidden_field
from kdedge.teacher.features import masked_mean, teacher_features
from kdedge_runtime.encoding import TextEncoder


@torch.no_grad()
def model_logits(
    model: torch.nn.Module,
    encoder: TextEncoder,
    texts: list[str],
    batch_size: int = 64,
    reporter: Reporter | None = None,
    description: str = "labelling",
    task: str = SEQUENCE,
) -> np.ndarray:
    """Logits of a Hugging Face or kdedge classifier, in input order: [texts, labels] for sequence
    classification; [texts, max_length, labels] for token classification, one row per word (read at
    its first sub-token), zero after the text's last word."""
    model.eval()
    id_lists, firsts = encoder.encode_words(texts) if task == TOKEN else (encoder.encode(texts), None)
    result: np.ndarray | None = None
    reporter = reporter or Reporter(quiet=True)
    with reporter.progress(description, len(texts)) as progress:
        device = next(model.parameters()).device
        for indices, input_ids, attention_mask in inference_batches(encoder, id_lists, batch_size):
            output = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device))
            logits = (output.logits if hasattr(output, "logits") else output).float().cpu()
            if firsts is not None:
                logits = gather_words(logits, [firsts[i] for i in indices])[0]
            logits = logits.numpy()
            if result is None:
                shape = (len(texts), encoder.max_length, logits.shape[-1]) if firsts is not None else (
                    len(texts), logits.shape[-1])
                result = np.zeros(shape, dtype=np.float32)
            if firsts is not None:
                result[indices, : logits.shape[1]] = logits
            else:
                result[indices] = logits
            progress.advance(len(indices))
    return result if result is not None else np.zeros((0, 0), dtype=np.float32)


@torch.no_grad()
def teacher_outputs(
    model: torch.nn.Module, encoder: TextEncoder, texts: Sequence[str], fields: Sequence[str], batch_size: int = 64,
    task: str = SEQUENCE,
) -> dict[str, np.ndarray]:
    """The teacher cache's fields for `texts`: `logits` (shaped as `model_logits` returns them),
    `hidden-<layer>` (mean over real tokens) and `word-hidden-<layer>` (the state at each word's first
    sub-token, [texts, max_length, width] in float16, zero after the text's last word)."""
    model.eval()
    texts = list(texts)
    id_lists, firsts = encoder.encode_words(texts) if task == TOKEN else (encoder.encode(texts), None)
    pooled = [int(name.removeprefix("hidden-")) for name in fields if name.startswith("hidden-")]
    per_word = [int(name.removeprefix("word-hidden-")) for name in fields if name.startswith("word-hidden-")]
    if per_word and firsts is None:
        raise ValueError("per-word hidden states need token classification's word positions")
    result: dict[str, np.ndarray] = {}
    device = next(model.parameters()).device
    for indices, input_ids, attention_mask in inference_batches(encoder, id_lists, batch_size):
        features = teacher_features(model, input_ids.to(device), attention_mask.to(device))
        logits = features.logits.cpu()
        if firsts is not None:
            words = gather_words(logits, [firsts[i] for i in indices])[0]
            logits = torch.zeros(len(indices), encoder.max_length, logits.shape[-1])
            logits[:, : words.shape[1]] = words
        values = {"logits": logits}
        for layer in pooled:
            values[hidden_field(layer)] = masked_mean(features.hidden_states[layer].float().cpu(), attention_mask)
        for layer in per_word:
            words = gather_words(features.hidden_states[layer].float().cpu(), [firsts[i] for i in indices])[0]
            states = torch.zeros(len(indices), encoder.max_length, words.shape[-1], dtype=torch.float16)
            states[:, : words.shape[1]] = words.half()
            values[hidden_field(layer, per_word=True)] = states
        for name in fields:
            if name not in result:
                dtype = np.float16 if values[name].dtype == torch.float16 else np.float32
                result[name] = np.zeros((len(texts), *values[name].shape[1:]), dtype=dtype)
            result[name][indices] = values[name].numpy()
    return result
