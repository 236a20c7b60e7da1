"""The runtime's errors: one family, so a service catches `KdedgeRuntimeError` and nothing it raises escapes.

- `ArtifactError`: an artifact folder that cannot be served (missing, damaged, from a newer kdedge).
- `InputError`: texts or files a caller passed that cannot be predicted (a string where a list of texts
  belongs, a non-string text, an unreadable input file). It is also a `ValueError`, for callers that
  catch the built-in kind.
"""

from __future__ import annotations


class KdedgeRuntimeError(Exception):
    """Every error kdedge-runtime raises on purpose; the message says what to change."""


class ArtifactError(KdedgeRuntimeError):
    """An artifact folder that cannot be served, with a message that says why."""


class InputError(KdedgeRuntimeError, ValueError):
    """Input the caller can fix (texts, an input or output file); the message says how."""
