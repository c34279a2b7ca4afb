"""Errors that the CLI reports as one line (exit code 2) instead of a traceback."""
from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A problem with the user's input: bad option, missing file, unknown name."""


class ConfigError(UserError):
    """A configuration value is missing, unknown or of the wrong type."""


class DataError(UserError):
    """A dataset root or video cannot be read as expected."""


class MissingWeightsError(UserError):
    """Pretrained weights that a backbone needs are not on disk."""

    def __init__(self, what: str, filename: str, where: str | Path, hint: str = "") -> None:
        self.filename = filename
        self.where = str(where)
        msg = f"{what}: weights file '{filename}' not found; put it in {self.where}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)
