"""Seeded selection of reference frames, animation pairs and training frame pairs.

Evaluation choices (reference frames, animation pairs) must be identical on every machine and
with every numpy version, so they rank candidates by a keyed 64-bit hash (SHA-256 of the seed
and the video name, mixed with SplitMix64 in wrapping uint64 arithmetic) instead of drawing
from a random-number generator.
"""
from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence, TextIO

import numpy as np
import torch
from torch.utils.data import Dataset

from bench.datasets.spec import strip_video_suffix
from bench.datasets.video_io import Size, VideoRef, num_frames, read_frames, to_tensor
from bench.errors import DataError

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_PAIR_CHUNK = 1 << 22  # candidate pairs ranked at once (bounded memory for large splits)


@dataclass(frozen=True)
class Pair:
    """An animation pair: animate the first frame of ``source`` with the motion of ``driving``."""

    source: str
    driving: str


def stable_key(*parts: object) -> int:
    """A 64-bit integer from ``parts`` that is the same on every machine (unlike ``hash``)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a bijective scramble of uint64 values."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def reference_indices(video_name: str, num_frames: int, n: int, seed: int,
                      exclude: int | Iterable[int] = 0) -> list[int]:
    """``n`` distinct frame indices of a video, sorted, never in ``exclude`` (the source frame).

    The choice depends only on (seed, video name, num_frames), so every machine picks the same
    reference frames for the same video.
    """
    excluded = {exclude} if isinstance(exclude, int) else set(exclude)
    candidates = np.array([i for i in range(num_frames) if i not in excluded], dtype=np.uint64)
    if len(candidates) < n:
        raise DataError(f"video {video_name} has {num_frames} frames: too few for {n} reference frames "
                        f"besides frame(s) {sorted(excluded)}")
    with np.errstate(over="ignore"):
        keys = _mix64(np.uint64(stable_key("refs", seed, video_name)) + (candidates + np.uint64(1)) * _GAMMA)
    order = np.lexsort((candidates, keys))[:n]
    return sorted(int(i) for i in candidates[order])


def animation_pairs(videos: Sequence[VideoRef], n: int = 200, seed: int = 0) -> list[Pair]:
    """``n`` (source, driving) pairs of videos whose identities differ, seeded and stable.

    Every ordered pair of different identities gets a key from (seed, source name, driving name);
    the ``n`` smallest keys win, in key order. The result does not depend on the input order,
    and the pairs for ``n`` are a prefix of the pairs for any larger ``n``. When fewer than ``n``
    such pairs exist, all of them are returned.
    """
    refs = sorted(videos, key=lambda v: v.name)
    if len({v.identity for v in refs}) < 2:
        raise DataError("animation pairs need videos of at least two different identities")
    names = [v.name for v in refs]
    ident = np.unique([v.identity for v in refs], return_inverse=True)[1]
    h = np.array([stable_key("pairs", seed, name) for name in names], dtype=np.uint64)
    with np.errstate(over="ignore"):
        src_key = _mix64(h + _GAMMA)
        drv_key = h * _GAMMA
    best_key = np.empty(0, np.uint64)
    best_i = np.empty(0, np.int64)
    best_j = np.empty(0, np.int64)
    rows = max(1, _PAIR_CHUNK // len(refs))
    for start in range(0, len(refs), rows):
        i, j = np.meshgrid(np.arange(start, min(start + rows, len(refs))), np.arange(len(refs)), indexing="ij")
        i, j = i.ravel(), j.ravel()
        valid = ident[i] != ident[j]
        i, j = i[valid], j[valid]
        key = _mix64(src_key[i] ^ drv_key[j])
        key, i, j = np.concatenate([best_key, key]), np.concatenate([best_i, i]), np.concatenate([best_j, j])
        keep = np.lexsort((j, i, key))[:n]
        best_key, best_i, best_j = key[keep], i[keep], j[keep]
    return [Pair(names[a], names[b]) for a, b in zip(best_i, best_j)]


PAIRS_HEADER = ("distance", "source", "driving", "frame")


def read_pairs_csv(path: str | Path) -> list[Pair]:
    """Pairs from a FOMM pairs CSV (``distance,source,driving,frame``; only the names are used)."""
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"source", "driving"} - set(reader.fieldnames or ())
            if missing:
                raise DataError(f"pairs file {path} lacks column(s) {', '.join(sorted(missing))} "
                                f"(expected header {','.join(PAIRS_HEADER)})")
            pairs = []
            for line, row in enumerate(reader, start=2):
                if not row["source"] or not row["driving"]:
                    raise DataError(f"pairs file {path}, line {line}: empty source or driving name")
                pairs.append(Pair(row["source"].strip(), row["driving"].strip()))
            return pairs
    except OSError as exc:
        raise DataError(f"cannot read pairs file {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"pairs file {path} is not a CSV text file ({type(exc).__name__}); expected header "
                        f"{','.join(PAIRS_HEADER)}") from None


def write_pairs_csv(pairs: Iterable[Pair], out: TextIO) -> None:
    """Write pairs in FOMM's CSV layout; ``distance`` is not computed (0, as in FOMM's bair256.csv)
    and ``frame`` is the source frame (0)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PAIRS_HEADER)
    for pair in pairs:
        writer.writerow((0, pair.source, pair.driving, 0))


def match_pairs(pairs: Iterable[Pair], videos: Sequence[VideoRef], strict: bool = True) -> list[tuple[VideoRef, VideoRef]]:
    """Map pair names onto videos on disk, by exact name or else by name without extension
    (a CSV may say ``x.mp4`` where the data has a frame folder ``x``). Unknown names raise
    ``DataError`` when ``strict``, else those pairs are dropped (as FOMM does)."""
    by_name = {v.name: v for v in videos}
    by_stem = {strip_video_suffix(v.name): v for v in videos}

    def find(name: str) -> VideoRef | None:
        return by_name.get(name) or by_stem.get(strip_video_suffix(name))

    matched = []
    for pair in pairs:
        source, driving = find(pair.source), find(pair.driving)
        if source is None or driving is None:
            if strict:
                missing = pair.source if source is None else pair.driving
                raise DataError(f"pair video '{missing}' is not in the dataset split")
            continue
        matched.append((source, driving))
    return matched


FrameTransform = Callable[[np.ndarray], np.ndarray]


class TrainPairs(Dataset):
    """Training samples: a source and a driving frame of one video plus ``num_refs`` other frames.

    With ``id_sampling`` (FOMM), an item first picks an identity, then one of its videos, so
    identities with many clips are not over-represented; ``repeats`` passes over the identities
    (or videos) make one epoch. Source/driving indices are drawn as in FOMM (two indices with
    replacement, sorted); reference frames are distinct and differ from both when the video is
    long enough. Draws depend on (seed, epoch, index) only, so data-loader workers agree; call
    :meth:`set_epoch` each epoch for fresh draws. ``transform`` (augmentation hook) receives the
    ``(2 + num_refs) x H x W x 3`` uint8 frames and returns frames of the same layout.
    Items: ``source``/``driving`` ``3 x H x W``, ``refs`` ``num_refs x 3 x H x W`` (float, [0, 1]),
    ``video`` (name) and ``frame_indices``.
    """

    def __init__(self, videos: Sequence[VideoRef], size: Size = None, num_refs: int = 0, id_sampling: bool = True,
                 repeats: int = 1, seed: int = 0, transform: FrameTransform | None = None) -> None:
        if not videos:
            raise DataError("no training videos")
        groups: dict[str, list[VideoRef]] = defaultdict(list)
        for video in sorted(videos, key=lambda v: v.name):
            groups[video.identity if id_sampling else video.name].append(video)
        self.groups = [groups[key] for key in sorted(groups)]
        self.size = size
        self.num_refs = num_refs
        self.repeats = repeats
        self.seed = seed
        self.transform = transform
        self.epoch = 0
        self._lengths: dict[Path, int] = {}

    def __len__(self) -> int:
        return self.repeats * len(self.groups)

    def set_epoch(self, epoch: int) -> None:
        """Select the draws of ``epoch`` (like ``DistributedSampler.set_epoch``)."""
        self.epoch = epoch

    def _num_frames(self, video: VideoRef) -> int:
        if video.path not in self._lengths:
            self._lengths[video.path] = num_frames(video.path)
        return self._lengths[video.path]

    def frame_indices(self, rng: np.random.Generator, n: int) -> list[int]:
        """Source, driving, then reference frame indices for a video of ``n`` frames."""
        source, driving = sorted(int(i) for i in rng.integers(0, n, size=2))
        others = [i for i in range(n) if i not in (source, driving)]
        if len(others) >= self.num_refs:
            refs = [others[i] for i in rng.choice(len(others), size=self.num_refs, replace=False)]
        elif others:
            refs = [others[i] for i in rng.integers(0, len(others), size=self.num_refs)]
        else:
            refs = [source] * self.num_refs
        return [source, driving, *refs]

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(index)
        rng = np.random.Generator(np.random.PCG64([self.seed, self.epoch, index]))
        group = self.groups[index % len(self.groups)]
        video = group[int(rng.integers(len(group)))]
        indices = self.frame_indices(rng, self._num_frames(video))
        frames = read_frames(video.path, indices, self.size)
        if self.transform is not None:
            frames = self.transform(frames)
        tensor = to_tensor(frames)
        return {"source": tensor[0], "driving": tensor[1], "refs": tensor[2:], "video": video.name,
                "frame_indices": torch.tensor(indices)}
