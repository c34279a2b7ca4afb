"""Protocol items (what to generate for each video or pair) and their prefetching loader.

Reconstruction: one item per test video; the source is its first frame, N seeded reference
frames of the same video (never the source), the driving video is every frame.
Animation: one item per (source, driving) pair of different identities; the source is the
first frame of the source video and the references are N seeded frames of the source video.
Each item's frames are decoded once, in a background thread, while the previous item computes.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from bench.datasets.sampling import reference_indices
from bench.datasets.video_io import Size, VideoRef, num_frames, read_frames, read_video, to_tensor

SOURCE_FRAME = 0


@dataclass(frozen=True)
class Item:
    """One unit of evaluation, named like its row in ``per_video.csv``."""

    name: str
    source: VideoRef
    driving: VideoRef

    @property
    def same_video(self) -> bool:
        return self.source.path == self.driving.path


@dataclass
class LoadedItem:
    """Decoded frames of an item: ``source`` 1x3xHxW, ``refs`` Nx3xHxW, ``driving`` Tx3xHxW (CPU)."""

    item: Item
    source: torch.Tensor
    refs: torch.Tensor
    driving: torch.Tensor
    ref_indices: list[int]


def pair_name(pair_source: str, pair_driving: str) -> str:
    return f"{pair_source}->{pair_driving}"


def reconstruction_items(videos: Sequence[VideoRef]) -> list[Item]:
    return [Item(v.name, v, v) for v in sorted(videos, key=lambda v: v.name)]


def animation_items(pairs: Sequence[tuple[VideoRef, VideoRef]]) -> list[Item]:
    return [Item(pair_name(s.name, d.name), s, d) for s, d in pairs]


def load_item(item: Item, size: Size, num_refs: int, seed: int) -> LoadedItem:
    """Decode the frames an item needs (the driving video whole, the source video's chosen frames)."""
    if item.same_video:
        frames = read_video(item.driving.path, size)
        refs = reference_indices(item.source.name, len(frames), num_refs, seed, exclude=SOURCE_FRAME) if num_refs else []
        chosen = frames[[SOURCE_FRAME, *refs]]
    else:
        count = num_frames(item.source.path)
        refs = reference_indices(item.source.name, count, num_refs, seed, exclude=SOURCE_FRAME) if num_refs else []
        chosen = read_frames(item.source.path, [SOURCE_FRAME, *refs], size)
        frames = read_video(item.driving.path, size)
    source_and_refs = to_tensor(np.asarray(chosen))
    return LoadedItem(item, source_and_refs[:1], source_and_refs[1:], to_tensor(frames), list(refs))


_DONE = object()


def prefetch(items: Sequence[Item], size: Size, num_refs: int, seed: int, depth: int = 1) -> Iterator[LoadedItem]:
    """Yield loaded items in order, decoding up to ``depth`` items ahead in a background thread.

    A decoding error is raised in the consumer at the item where it happened.
    """
    slots: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                slots.put(load_item(item, size, num_refs, seed))
        except BaseException as exc:  # handed to the consumer
            slots.put(exc)
        slots.put(_DONE)

    thread = threading.Thread(target=work, name="bench-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            got = slots.get()
            if got is _DONE:
                return
            if isinstance(got, BaseException):
                raise got
            yield got
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                slots.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()

