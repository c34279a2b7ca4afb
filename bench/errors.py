"""Errors that the CLI reports as one line (exit code 2) instead of a traceback."""
from __future__ import annotations

import errno
from pathlib import Path


class UserError(Exception):
    """A problem with the user's input: bad option, missing file, unknown name."""


class ConfigError(UserError):
    """A configuration value is missing, unknown or of the wrong type."""


class DataError(UserError):
    """A dataset root or video cannot be read as expected."""


class CheckpointError(UserError):
    """A checkpoint file (ours or official) cannot be read or does not match what it should hold."""


class MissingWeightsError(UserError):
    """Pretrained weights that a backbone needs are not on disk."""

    def __init__(self, what: str, filename: str, where: str | Path, hint: str = "") -> None:
        self.filename = filename
        self.where = str(where)
        msg = f"{what}: weights file '{filename}' not found; put it in {self.where}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)


def describe_os_error(exc: OSError) -> str:
    """One line for an operating-system error: what failed and on which path."""
    what = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc) or type(exc).__name__)
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{what}: {' -> '.join(paths)}" if paths else what


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's message cut to its first line and ``limit`` characters (its type name when empty)."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


def expected_failure(exc: UserError | OSError) -> str:
    """The one line to print for an expected failure that reached the command line: a user error, or an
    operating-system error on the user's paths (an output that is a file, a read-only folder, a full disk,
    an unreadable input). Anything else is a bug and keeps its traceback (the caller catches only these)."""
    return str(exc) if isinstance(exc, UserError) else describe_os_error(exc)
