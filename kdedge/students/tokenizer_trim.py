"""Trim a tokenizer's vocabulary to the tokens a student keeps, renumbering ids 0..n-1.

The trimmed `tokenizer.json` keeps the teacher's normalizer, pre-tokenizer, special tokens and
templates; only the model's vocabulary shrinks. A kept token keeps its text, so a text whose tokens
were all kept encodes to the same tokens (new ids); a word whose pieces were dropped is re-segmented
into kept pieces, or becomes the unknown token. Works for WordPiece (BERT) and Unigram
(SentencePiece, e.g. XLM-R) models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from kdedge.errors import ConfigError

SUPPORTED_MODELS = ("WordPiece", "Unigram")


@dataclass(frozen=True)
class TrimmedTokenizer:
    tokenizer: Tokenizer
    teacher_ids: np.ndarray  # teacher_ids[new_id] = the teacher id of the same token
    pad_token_id: int

    @property
    def vocab_size(self) -> int:
        return len(self.teacher_ids)


def special_ids(tokenizer: Tokenizer) -> list[int]:
    """Ids of added/special tokens and the unknown token: always kept."""
    spec = json.loads(tokenizer.to_str())
    ids = {token["id"] for token in spec.get("added_tokens") or []}
    model = spec["model"]
    if model["type"] == "WordPiece" and model.get("unk_token") in model["vocab"]:
        ids.add(model["vocab"][model["unk_token"]])
    if model["type"] == "Unigram" and model.get("unk_id") is not None:
        ids.add(model["unk_id"])
    return sorted(ids)


def trim_tokenizer(tokenizer: Tokenizer, keep_ids: np.ndarray, pad_token_id: int) -> TrimmedTokenizer:
    """Keep `keep_ids` (teacher ids) plus every special token; new ids follow the old order."""
    spec = json.loads(tokenizer.to_str())
    kind = spec["model"]["type"]
    if kind not in SUPPORTED_MODELS:
        raise ConfigError(
            f"cannot trim a {kind} tokenizer's vocabulary",
            hint=f"vocabulary trimming supports {', '.join(SUPPORTED_MODELS)}; set student.vocab_size to the full size",
        )
    kept = np.array(sorted(set(int(i) for i in keep_ids) | set(special_ids(tokenizer)) | {pad_token_id}), dtype=np.int64)
    new_id = {int(old): new for new, old in enumerate(kept)}

    model = spec["model"]
    if kind == "WordPiece":
        model["vocab"] = {token: new_id[old] for token, old in model["vocab"].items() if old in new_id}
    else:  # Unigram: the vocabulary is a list whose index is the id
        model["vocab"] = [model["vocab"][old] for old in kept]
        if model.get("unk_id") is not None:
            model["unk_id"] = new_id[model["unk_id"]]
    for token in spec.get("added_tokens") or []:
        token["id"] = new_id[token["id"]]
    _renumber_post_processor(spec.get("post_processor"), new_id)
    spec["padding"] = None
    spec["truncation"] = None
    return TrimmedTokenizer(Tokenizer.from_str(json.dumps(spec)), kept, new_id[pad_token_id])


def _renumber_post_processor(processor: dict | None, new_id: dict[int, int]) -> None:
    if not processor:
        return
    kind = processor.get("type")
    if kind == "TemplateProcessing":
        for special in processor.get("special_tokens", {}).values():
            special["ids"] = [new_id[i] for i in special["ids"]]
    elif kind in ("BertProcessing", "RobertaProcessing"):
        for key in ("sep", "cls"):
            token, old = processor[key]
            processor[key] = [token, new_id[old]]
    elif kind == "Sequence":
        for inner in processor.get("processors", []):
            _renumber_post_processor(inner, new_id)
