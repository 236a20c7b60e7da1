"""The teacher labels texts once; its logits are cached on disk and reused by later runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from kdedge_runtime.encoding import TextEncoder

from kdedge.batching import inference_batches
from kdedge.progress import Reporter


@torch.no_grad()
def model_logits(
    model: torch.nn.Module,
    encoder: TextEncoder,
    texts: list[str],
    batch_size: int = 64,
    reporter: Reporter | None = None,
    description: str = "labelling",
) -> np.ndarray:
    """Logits [len(texts), num_labels] of a Hugging Face or kdedge classifier, in input order."""
    model.eval()
    id_lists = encoder.encode(texts)
    result: np.ndarray | None = None
    reporter = reporter or Reporter(quiet=True)
    with reporter.progress(description, len(texts)) as task:
        for indices, input_ids, attention_mask in inference_batches(encoder, id_lists, batch_size):
            output = model(input_ids=input_ids, attention_mask=attention_mask)
            logits = (output.logits if hasattr(output, "logits") else output).float().numpy()
            if result is None:
                result = np.zeros((len(texts), logits.shape[1]), dtype=np.float32)
            result[indices] = logits
            task.advance(len(indices))
    return result if result is not None else np.zeros((0, 0), dtype=np.float32)


def cached_logits(path: Path, key: str, compute) -> np.ndarray:
    """Load `path` if it was computed for `key`, otherwise compute, save atomically and return it."""
    stamp = path.with_suffix(".json")
    if path.is_file() and stamp.is_file() and json.loads(stamp.read_text()).get("key") == key:
        return np.load(path)
    logits = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npy")
    np.save(partial, logits)
    os.replace(partial, path)
    stamp.write_text(json.dumps({"key": key, "rows": int(logits.shape[0])}))
    return logits
