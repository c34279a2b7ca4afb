"""Writing files so that a reader never sees half a file and a failure says which file, in one line.

Every result, state and checkpoint file of motionbench is written to a temporary name in the
target folder and renamed over the target (``os.replace``, atomic on POSIX): an interrupted or
failed write leaves the previous file (or none), never a truncated one. Failures (an output path
that is a file, a read-only folder, a full disk) raise :class:`~bench.errors.UserError` naming the
file. A name that becomes part of a path (a video, person, variant, dataset, method or experiment
name, often from a file someone else wrote) passes :func:`safe_name` first, so that it cannot
point outside its folder.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from bench.errors import UserError, describe_os_error, first_line


#: characters that would make a name more than one path component, on any platform
SEPARATORS = ("/", "\\")


def safe_name(name: str, what: str) -> str:
    """``name`` when it is one plain file or folder name: a non-empty string that holds no path
    separator (``/`` or ``\\``, on every platform) or NUL and is not ``.`` or ``..``; else a one-line
    ``UserError`` saying ``what`` it is. (``..`` inside a longer name, ``a..b``, names no other folder.)"""
    if not isinstance(name, str) or not name:
        raise UserError(f"{what} must be a non-empty name, got {name!r}")
    if any(sep in name for sep in SEPARATORS) or "\0" in name or name in (".", ".."):
        raise UserError(f"{what} {name!r} is not a plain file name (it may hold no '/' or '\\' and not be '.' or "
                        "'..'): it becomes part of a path")
    return name


def inside(root: str | Path, path: str | Path, what: str) -> Path:
    """``path`` when it lies inside ``root`` (both made absolute and ``..`` folded; links a user placed
    inside ``root`` are theirs to keep), else a one-line ``UserError`` naming ``what`` it is."""
    base, target = os.path.abspath(root), os.path.abspath(path)
    if os.path.commonpath([base, target]) != base:
        raise UserError(f"{what} {path} lies outside {root}")
    return Path(path)


def ensure_folder(path: str | Path) -> Path:
    """``path`` as an existing, writable folder (created with parents), or a one-line error."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"output folder {path} is an existing file") from None
    except OSError as exc:
        raise UserError(f"cannot create output folder {path}: {describe_os_error(exc)}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"output folder {path} is not writable")
    return path


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` for a temporary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    ensure_folder(path.parent)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")  # same suffix: writers pick formats by it
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {describe_os_error(exc)}") from None
    except RuntimeError as exc:  # torch.save reports a failed write (e.g. a full disk) as a RuntimeError
        raise UserError(f"cannot write {path}: {first_line(exc)}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    import torch  # here, so that CSV/JSON writers (dataset preparation workers) do not import torch

    return atomic_write(path, lambda tmp: torch.save(obj, tmp))
