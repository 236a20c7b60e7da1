"""One exception family for everything a user can get wrong; the CLI prints it as one line."""

from __future__ import annotations


class KdedgeError(Exception):
    """A problem the user can fix: `message` says what is wrong, `hint` how to fix it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(KdedgeError):
    """A recipe or command-line value that is unknown, mistyped or out of range."""


class DataError(KdedgeError):
    """Input data that is missing, unreadable or does not have the expected columns or labels."""


class TeacherError(KdedgeError):
    """A teacher model that cannot be found, loaded or used for the task."""


class ExportValidationError(KdedgeError):
    """An exported or quantized model that disagrees with the student beyond the stated tolerance."""
