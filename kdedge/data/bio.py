"""BIO tag sets for token-classification data; repair and spans live in the runtime (kdedge_runtime.bio)."""

from __future__ import annotations

from kdedge_runtime.bio import Span, repair_bio, spans, split_tag

__all__ = ["Span", "ordered_tags", "repair_bio", "spans", "split_tag"]


def ordered_tags(found: set[str]) -> tuple[str, ...]:
    """`O` first, then each type's B- and I- tags, types in alphabetical order."""
    for tag in found:
        split_tag(tag)
    kinds = sorted({split_tag(tag)[1] for tag in found if tag != "O"})
    return ("O", *(f"{prefix}-{kind}" for kind in kinds for prefix in ("B", "I")))
