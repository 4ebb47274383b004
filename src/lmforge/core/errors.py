"""User-facing errors.

Anything a user can cause (a missing file, a malformed row, an unknown model, a bad flag
value, a refused API call) raises a subclass of :class:`LmforgeError`. The CLI prints its
message as a single line and exits with status 2; library users can catch it.
"""

from __future__ import annotations

from pathlib import Path


class LmforgeError(Exception):
    """An error caused by the user's input or environment, not by a bug in lmforge."""


class DataError(LmforgeError):
    """A malformed input file: names the file, the line (or row) and the field."""

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.fix = fix
        where = self.path if line is None else f"{self.path}:{line}"
        what = f"field '{field}': {message}" if field else message
        text = f"{where}: {what}"
        if fix:
            text += f" ({fix})"
        super().__init__(text)


class ModelNotFoundError(LmforgeError):
    """A model spec that is neither bundled, a local path, a GGUF file nor reachable on the hub."""


class BackendError(LmforgeError):
    """A generation backend refused or failed a request for a reason the user must fix."""
