"""BIO tags: repair at decode time and entity spans (shared by kdedge and the runtime).

A tag is `O`, `B-TYPE` or `I-TYPE`. A model's per-word argmax can produce sequences no annotator
would write (`I-person` after `O`, `I-geo-loc` after `B-person`); `repair_bio` turns each such `I-X`
into `B-X`, the convention seqeval's default mode also applies when it scores.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    label: str  # the entity type, without B-/I-
    start: int  # first word
    end: int  # one past the last word


def split_tag(tag: str) -> tuple[str, str]:
    """`B-person` → ("B", "person"); `O` → ("O", "")."""
    if tag == "O":
        return "O", ""
    prefix, separator, kind = tag.partition("-")
    if prefix not in ("B", "I") or not separator or not kind:
        raise ValueError(f"{tag!r} is not a BIO tag (O, B-TYPE or I-TYPE)")
    return prefix, kind


def repair_bio(tags: list[str]) -> list[str]:
    """Each `I-X` that does not continue an entity of type X starts one: it becomes `B-X`."""
    repaired, previous = [], "O"
    for tag in tags:
        prefix, kind = split_tag(tag)
        if prefix == "I" and split_tag(previous)[1] != kind:  # "O" has no type, so this covers it
            tag = f"B-{kind}"
        repaired.append(tag)
        previous = tag
    return repaired


def spans(tags: list[str]) -> list[Span]:
    """Entities of a repaired tag sequence, in order."""
    found, start, kind = [], None, ""
    for position, tag in enumerate([*repair_bio(tags), "O"]):
        prefix, tag_kind = split_tag(tag)
        if start is not None and prefix != "I":
            found.append(Span(kind, start, position))
            start = None
        if prefix == "B":
            start, kind = position, tag_kind
    return found
