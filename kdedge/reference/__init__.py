"""References generated from the code for the documentation site (`docs/`): recipe keys from the
configuration dataclasses, commands and options from the command lines, user errors from their
`raise` sites. Generated at `mkdocs build`, so they cannot drift from the code."""

import re

_CODE_SPAN = re.compile(r"(`[^`]*`)")
_OUTSIDE_CODE = str.maketrans({"|": "\\|", "[": "\\[", "]": "\\]", "<": "&lt;", ">": "&gt;"})


def table_cell(text: str) -> str:
    """`text` as one Markdown table cell: on one line, with the characters a table, a cross-reference or
    HTML would take for their own escaped outside code spans (inside them they are literal already)."""
    parts = _CODE_SPAN.split(" ".join(str(text).split()))
    return "".join(part if part.startswith("`") else part.translate(_OUTSIDE_CODE) for part in parts)
