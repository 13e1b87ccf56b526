"""Errors that name what is wrong with the user's input: the file, the row or key, and the value."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: a message a user can act on, naming file, row (or key) and value."""

    def __init__(self, message: str, *, file: str | None = None, row: object = None, value: object = None):
        parts = [message]
        if file is not None:
            parts.append(f"file: {file}")
        if row is not None:
            parts.append(f"row: {row}")
        if value is not None:
            parts.append(f"value: {value!r}")
        super().__init__(" | ".join(parts))
        self.message, self.file, self.row, self.value = message, file, row, value


class EstimationError(RuntimeError):
    """An estimator could not produce a trustworthy result (singular design, no convergence, ...)."""
