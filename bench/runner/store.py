"""Resumable per-video results: one file per finished video under ``OUT/state/<task>/``.

Each file holds the video's record (metric states, frame count, finiteness, best-of-references
choice) and is written atomically as soon as the video is done, so a run killed half-way
loses at most the video in flight. A ``settings.json`` beside them pins the run key: state of
a different configuration in the same folder is refused instead of being mixed in. A state file
that cannot be read (truncated, foreign, a planted pickle) is reported and recomputed, never
fatal: a record is only reused when it loads and carries this run's signature.

Records are saved with ``torch.save`` after NumPy arrays are turned into tensors, so they load
with ``torch.load(weights_only=True)`` (no code from the file runs).
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.errors import UserError
from bench.files import atomic_torch_save, atomic_write_text, ensure_folder

_ARRAY_TAG = "__ndarray__"


def encode(value: Any) -> Any:
    """Nested containers with NumPy arrays/scalars -> ``weights_only``-safe types (tensors, floats)."""
    if isinstance(value, np.ndarray):
        return {_ARRAY_TAG: torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(value, dict):
        if set(value) == {_ARRAY_TAG}:
            return value[_ARRAY_TAG].numpy()
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def file_name(video: str) -> str:
    """A safe, unique file name for a video or pair name (which may hold '/', '#', spaces)."""
    safe = "".join(c if c.isalnum() or c in "-_.#" else "_" for c in video)[:80]
    digest = hashlib.sha1(video.encode("utf-8")).hexdigest()[:8]
    return f"{safe}-{digest}.pt"


class ResultStore:
    """Per-video records of one task in ``directory`` (shared by all processes of a run)."""

    def __init__(self, directory: str | Path, key: str) -> None:
        self.directory = ensure_folder(directory)
        self.key = key
        marker = self.directory / "settings.json"
        found = self._marker_key(marker)
        if found is not None and found != key:
            raise UserError(f"{self.directory} holds results of another run configuration (run key {found}, "
                            f"this run {key}); choose another --out or delete that folder")
        if found is None:
            atomic_write_text(marker, json.dumps({"run_key": key}))

    @staticmethod
    def _marker_key(marker: Path) -> str | None:
        """The run key pinned by ``settings.json`` (None when absent or unreadable: records are then
        only reused when their own signature, which holds the run key, matches)."""
        if not marker.is_file():
            return None
        try:
            return str(json.loads(marker.read_text())["run_key"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warn(f"{marker} is unreadable ({type(exc).__name__}); rewriting it")
            return None

    def path(self, video: str) -> Path:
        return self.directory / file_name(video)

    def done(self, video: str, signature: list[str]) -> bool:
        """Whether ``video`` has a readable saved record whose signature is this run's (else it is
        recomputed: a metric became available, the FID real statistics came from the cache, or the
        file is damaged)."""
        if not self.path(video).is_file():
            return False
        record = self._read(video)
        return record is not None and record.get("metrics") == signature

    def save(self, video: str, record: dict[str, Any]) -> None:
        atomic_torch_save(encode(record), self.path(video))

    def _read(self, video: str) -> dict[str, Any] | None:
        try:
            record = decode(torch.load(self.path(video), map_location="cpu", weights_only=True))
        except Exception as exc:  # noqa: BLE001 - any unreadable file is recomputed, never trusted
            warn(f"saved result {self.path(video)} is unreadable ({type(exc).__name__}); recomputing that video")
            return None
        return record if isinstance(record, dict) else None

    def load(self, video: str) -> dict[str, Any]:
        record = self._read(video)
        if record is None:
            raise UserError(f"cannot read saved result {self.path(video)}; run the same command again to "
                            "recompute that video")
        return record


def warn(message: str) -> None:
    sys.stderr.write(f"bench: warning: {message}\n")
