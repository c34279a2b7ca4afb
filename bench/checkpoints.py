"""Checkpoint files: the one format of motionbench (what training writes and evaluation loads), read and
written here; building a method from one is :func:`bench.methods.build_method`'s job.

A checkpoint is a ``torch.save`` of a plain dict::

    format         'motionbench'
    version        CHECKPOINT_VERSION
    method         registry name (``bench.methods.build_method``)
    config         the method's model config (a mapping), and ``config_hash`` of it
    train_dataset  dataset the weights were trained on (None when unknown)
    model          ``state_dict`` of the method
    optimizer, scheduler, scaler   their ``state_dict`` (None when not training)
    optimizer_discriminator, scheduler_discriminator   those of a method's discriminator (None without)
    stage          training stage the training state belongs to ('main', or e.g. MRAA's 'avd')
    epoch, step    completed epochs / optimiser steps of that stage; ``batch_in_epoch`` for a mid-epoch save
    rng            per-process RNG states (see :func:`capture_rng`)
    run_id         MLflow run that wrote it
    train_config   the training settings of that stage

Everything is stored in types that ``torch.load(weights_only=True)`` accepts, so loading a
checkpoint never runs code from the file.
"""
from __future__ import annotations

import hashlib
import io
import json
import pickle
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from bench.errors import CheckpointError, first_line
from bench.files import atomic_torch_save

FORMAT = "motionbench"
CHECKPOINT_VERSION = 1
#: fields every checkpoint has (others are optional)
REQUIRED_FIELDS = ("method", "config", "model")
#: the files a checkpoint folder's contents are read from (:func:`read_checkpoint` of a folder)
FOLDER_SUFFIXES = (".pth", ".pt", ".pth.tar")
#: the large states, left out of :func:`meta_of`
LARGE_FIELDS = ("model", "optimizer", "scheduler", "optimizer_discriminator", "scheduler_discriminator", "scaler",
                "rng")


def _canonical(value: Any) -> Any:
    """JSON-ready view where ``1.0`` and ``1`` (YAML spellings of one number) hash alike."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def config_hash(config: Mapping[str, Any] | None) -> str:
    """SHA-256 (hex) of the canonical JSON of a config: key order and 1 vs 1.0 do not matter."""
    blob = json.dumps(_canonical(config or {}), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def short_hash(digest: str) -> str:
    return digest[:8]


def capture_rng() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA RNG states in ``weights_only``-safe types."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": (version, torch.tensor(mt, dtype=torch.int64), gauss),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng` (CUDA states only where the device count matches)."""
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(int(x) for x in mt.tolist()), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    cuda = list(state.get("cuda") or [])
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(path: str | Path, **fields: Any) -> Path:
    """Write a checkpoint atomically (temporary file, then ``os.replace``); returns the path.

    ``method``, ``config`` and ``model`` are required; ``config_hash``, ``format`` and
    ``version`` are filled in.
    """
    missing = [name for name in REQUIRED_FIELDS if name not in fields]
    if missing:
        raise ValueError(f"checkpoint needs field(s): {', '.join(missing)}")
    payload = dict(fields)
    payload["format"] = FORMAT
    payload["version"] = CHECKPOINT_VERSION
    payload["config"] = dict(payload["config"] or {})
    payload["config_hash"] = config_hash(payload["config"])
    return atomic_torch_save(payload, path)


@dataclass
class CheckpointFile:
    """A checkpoint read once: its contents (on the CPU), the file's SHA-256 and its path."""

    path: Path
    data: dict[str, Any]
    sha256: str

    @property
    def is_motionbench(self) -> bool:
        return self.data.get("format") == FORMAT


def read_checkpoint(path: str | Path, trusted: bool = False) -> CheckpointFile:
    """Read any checkpoint file (ours or an official one) once: bytes, hash, then unpickle on the CPU; a
    folder is read as the official files it holds (:func:`_read_folder`).

    With ``trusted=False`` (default) only tensors and plain containers are unpickled
    (``torch.load(weights_only=True)``). A missing, unreadable or non-dict file raises
    :class:`CheckpointError` naming it.
    """
    path = Path(path)
    if path.is_dir():
        return _read_folder(path, trusted)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {first_line(exc)}") from None
    try:
        data = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError as exc:
        if trusted or "Unsupported global" not in str(exc):
            raise CheckpointError(f"cannot read checkpoint {path}: not a PyTorch checkpoint or corrupt") from None
        raise CheckpointError(f"checkpoint {path} holds objects other than tensors and needs a full pickle load, "
                              "which can run code: pass --trusted (trusted=True) only if you trust the file") from None
    except (zipfile.BadZipFile, EOFError, RuntimeError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {first_line(exc)}") from None
    if not isinstance(data, Mapping):
        raise CheckpointError(f"checkpoint {path} holds a {type(data).__name__}, expected a dict")
    return CheckpointFile(path, dict(data), hashlib.sha256(blob).hexdigest())


def _read_folder(path: Path, trusted: bool) -> CheckpointFile:
    """A folder of checkpoint files (official weights released as one file per sub-network, e.g. LivePortrait's):
    every ``*.pth`` / ``*.pt`` / ``*.pth.tar`` under it, each read as a file, keyed by its path relative to the
    folder; the SHA-256 is that of the sorted list of (relative path, file SHA-256)."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(FOLDER_SUFFIXES))
    if not files:
        raise CheckpointError(f"checkpoint folder {path} holds no {' / '.join(FOLDER_SUFFIXES)} files")
    data, digest = {}, hashlib.sha256()
    for file in files:
        read = read_checkpoint(file, trusted)
        relative = file.relative_to(path).as_posix()
        data[relative] = read.data
        digest.update(f"{relative}\0{read.sha256}\n".encode())
    return CheckpointFile(path, data, digest.hexdigest())


def ours(checkpoint: CheckpointFile) -> dict[str, Any]:
    """The contents of a motionbench checkpoint, validated (format, version, required fields)."""
    return validated(checkpoint.data, checkpoint.path)


def validated(data: Mapping[str, Any], path: str | Path) -> dict[str, Any]:
    """``data`` as the contents of a motionbench checkpoint (format, version, required fields checked)."""
    data = dict(data)
    if data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a motionbench checkpoint (no format='{FORMAT}' field); "
                              "for an official checkpoint pass --official")
    version = data.get("version")
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {version!r}; this motionbench reads "
                              f"up to {CHECKPOINT_VERSION} (upgrade motionbench)")
    missing = [name for name in REQUIRED_FIELDS if name not in data]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks field(s): {', '.join(missing)}")
    return data


def load_checkpoint(path: str | Path, trusted: bool = False) -> dict[str, Any]:
    """Read and validate a motionbench checkpoint (see :func:`read_checkpoint`)."""
    return ours(read_checkpoint(path, trusted))


def check_compatible(meta: Mapping[str, Any], expected_method: str | None = None,
                     expected_config_hash: str | None = None, where: str | Path = "") -> None:
    """Raise a one-line :class:`UserError` when a checkpoint is for another method or config."""
    method, digest = meta["method"], meta.get("config_hash") or config_hash(meta["config"])
    label = f"checkpoint {where} " if where else "checkpoint "
    if expected_method is not None and method != expected_method:
        raise CheckpointError(f"{label}is for method '{method}' (config {short_hash(digest)}), not '{expected_method}'")
    if expected_config_hash is not None and digest != expected_config_hash:
        raise CheckpointError(f"{label}is for method '{method}' with config {short_hash(digest)}, not the requested "
                        f"config {short_hash(expected_config_hash)}")


def meta_of(data: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint dict without its large states (weights, optimiser, RNG)."""
    return {k: v for k, v in data.items() if k not in LARGE_FIELDS}
