"""Resumable per-video results: one file per finished video under ``OUT/state/<task>/``.

Each file holds the video's record (metric states, frame count, finiteness, best-of-references
choice) and is written atomically as soon as the video is done, so a run killed half-way
loses at most the video in flight. A ``settings.json`` beside them pins the run key: state of
a different configuration in the same folder is refused instead of being mixed in.

Records are saved with ``torch.save`` after NumPy arrays are turned into tensors, so they load
with ``torch.load(weights_only=True)`` (no code from the file runs).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.errors import UserError

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
        self.directory = Path(directory)
        self.key = key
        self.directory.mkdir(parents=True, exist_ok=True)
        marker = self.directory / "settings.json"
        if marker.is_file():
            found = json.loads(marker.read_text()).get("run_key")
            if found != key:
                raise UserError(f"{self.directory} holds results of another run configuration (run key {found}, "
                                f"this run {key}); choose another --out or delete that folder")
        else:
            _atomic_write_text(marker, json.dumps({"run_key": key}))

    def path(self, video: str) -> Path:
        return self.directory / file_name(video)

    def done(self, video: str, signature: list[str]) -> bool:
        """Whether ``video`` has a saved record whose metric ``signature`` is this run's (else it is
        recomputed: a metric became available, or the FID real statistics came from the cache)."""
        return self.path(video).is_file() and self.load(video).get("metrics") == signature

    def save(self, video: str, record: dict[str, Any]) -> None:
        target = self.path(video)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            torch.save(encode(record), tmp)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()

    def load(self, video: str) -> dict[str, Any]:
        try:
            return decode(torch.load(self.path(video), map_location="cpu", weights_only=True))
        except (RuntimeError, OSError, EOFError, ValueError) as exc:
            raise UserError(f"cannot read saved result {self.path(video)} ({exc}); delete it to recompute "
                            "that video") from None


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
