"""Load a kdedge tiny-Transformer artifact with optimum's ORTModelForSequenceClassification.

    python interop/optimum_check.py ARTIFACT [TEXT ...]

Run it in a separate environment that has optimum's ONNX Runtime support (optimum-onnx currently needs
transformers < 4.58, which kdedge's own environment does not allow):

    python -m venv /tmp/optimum && /tmp/optimum/bin/pip install torch==2.13.0 "optimum-onnx[onnxruntime]" ./runtime
    /tmp/optimum/bin/python interop/optimum_check.py artifacts/sentiment-transformer

It loads the artifact's `model.onnx`, `config.json` and `tokenizer.json` through optimum and
transformers, classifies the texts, compares the logits with kdedge-runtime's on the same texts,
prints one JSON line per text, and exits 1 if the two disagree by more than 1e-4.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    folder, texts = Path(argv[0]), argv[1:] or ["what a wonderful day", "this is the worst service ever", "ok then"]
    import numpy as np
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import PreTrainedTokenizerFast

    from kdedge_runtime import Predictor

    model = ORTModelForSequenceClassification.from_pretrained(folder, file_name="model.onnx")
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    manifest = json.loads((folder / "kdedge.json").read_text())
    tokenizer.pad_token = tokenizer.convert_ids_to_tokens(manifest["pad_token_id"])
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=manifest["max_length"], return_tensors="np")
    feed = {name: encoded[name] for name in ("input_ids", "attention_mask")}
    logits = model(**feed).logits
    logits = np.asarray(logits)
    reference = Predictor(folder).logits(texts)
    difference = float(np.abs(logits - reference).max())
    for text, row in zip(texts, logits, strict=True):
        print(json.dumps({"text": text, "label": model.config.id2label[int(row.argmax())]}))
    print(json.dumps({"max_abs_logit_difference_vs_kdedge_runtime": difference}))
    return 0 if difference <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
