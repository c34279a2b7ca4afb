"""Whole-tree check of a dataset root that collects every problem instead of stopping at the first."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from bench.datasets.spec import DatasetSpec
from bench.datasets.video_io import SPLITS, frame_files, iter_frames, split_entries, video_kind
from bench.errors import DataError


@dataclass(frozen=True)
class Problem:
    """One finding: where, what kind (``missing-split``, ``split-count``, ``not-a-video``,
    ``empty``, ``unreadable``, ``frame-size``, ``mixed-size``, ``too-short``) and a message."""

    path: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.kind}: {self.message}"


def check_video(path: Path, spec: DatasetSpec, min_frames: int) -> list[Problem]:
    """Decode one video completely and report what is wrong with it."""
    where = str(path)
    try:
        if path.is_dir() and not frame_files(path):
            return [Problem(where, "empty", "folder holds no frame images")]
    except DataError as exc:
        return [Problem(where, "unreadable", str(exc))]
    problems: list[Problem] = []
    first_shape = None
    count = 0
    try:
        for frame in iter_frames(path):
            count += 1
            if first_shape is None:
                first_shape = frame.shape[:2]
            elif frame.shape[:2] != first_shape and not any(p.kind == "mixed-size" for p in problems):
                problems.append(Problem(where, "mixed-size", f"frame {count - 1} is {_hw(frame.shape)}, "
                                                             f"frame 0 is {_hw(first_shape)}"))
    except DataError as exc:
        problems.append(Problem(where, "unreadable", str(exc)))
    if first_shape is not None and tuple(first_shape) != tuple(spec.frame_size):
        problems.append(Problem(where, "frame-size", f"frames are {_hw(first_shape)}, "
                                                     f"{spec.name} expects {_hw(spec.frame_size)}"))
    if count < min_frames and not any(p.kind == "unreadable" for p in problems):
        problems.append(Problem(where, "too-short", f"{count} frames, at least {min_frames} needed"))
    return problems


def _hw(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}x{shape[0]}"


def _check_split(root: Path, split: str, spec: DatasetSpec, min_frames: int, progress: bool) -> list[Problem]:
    split_dir = root / split
    if not split_dir.is_dir():
        return [Problem(str(split_dir), "missing-split", "split folder not found")]
    problems: list[Problem] = []
    try:
        entries = split_entries(split_dir)
    except DataError as exc:
        return [Problem(str(split_dir), "unreadable", str(exc))]
    videos = [p for p in entries if video_kind(p)]
    problems += [Problem(str(p), "not-a-video", "not a frame folder, video file, gif or image strip")
                 for p in entries if not video_kind(p)]
    expected = spec.test_count if split == "test" else spec.train_count
    if expected is not None and len(videos) != expected:
        problems.append(Problem(str(split_dir), "split-count",
                                f"{len(videos)} videos, the paper's {spec.name} {split} split has {expected}"))
    for path in tqdm(videos, desc=f"verify {spec.name}/{split}", unit="video", disable=not progress, leave=False):
        problems += check_video(path, spec, min_frames)
    return problems


def verify(spec: DatasetSpec, root: str | Path, min_frames: int | None = None, progress: bool = False) -> list[Problem]:
    """Every problem of the dataset tree at ``root`` (both splits, every video decoded fully).

    ``min_frames`` defaults to ``spec.min_frames``. A missing root raises ``DataError``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset root not found: {root}")
    needed = spec.min_frames if min_frames is None else min_frames
    problems: list[Problem] = []
    for split in SPLITS:
        problems += _check_split(root, split, spec, needed, progress)
    return problems
