"""Raw source videos of ``bench datasets prepare``: finding them and streaming their frames with PyAV.

``load_videos.py`` of video-preprocessing reads ``<videos>/<video_id>.mp4`` with imageio; a source
may also be ``.mkv``/``.webm``/``.mov``/``.avi`` here (tried after ``.mp4``), and its fps is the
one imageio would report (:func:`bench.datasets.windows.imageio_fps`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from bench.datasets.windows import imageio_fps
from bench.errors import DataError
from bench.files import inside

SOURCE_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi")


def find_source(videos: Path, stem: str) -> Path | None:
    """``<videos>/<stem>.mp4`` (the official name), else the same stem with another movie suffix."""
    for suffix in SOURCE_SUFFIXES:
        candidate = inside(videos, videos / f"{stem}{suffix}", "source video")
        if candidate.is_file():
            return candidate
    return None


def list_sources(videos: Path) -> list[Path]:
    """Movie files of ``videos`` (sorted by name; hidden files skipped)."""
    if not videos.is_dir():
        raise DataError(f"videos folder not found: {videos}")
    return sorted((p for p in videos.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in SOURCE_SUFFIXES), key=lambda p: p.name)


def _reason(exc: BaseException) -> str:
    """FFmpeg's message without errno and file name (PyAV repeats both)."""
    return getattr(exc, "strerror", None) or str(exc)


class SourceReader:
    """A source video opened with PyAV: its imageio-compatible fps, header frame count and a
    streaming RGB frame iterator. Open and decode errors raise ``DataError``."""

    def __init__(self, path: Path) -> None:
        import av

        self.path = path
        self._av = av
        try:
            self.container = av.open(str(path))
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise DataError(f"cannot open source video {path}: {_reason(exc)}") from None
        if not self.container.streams.video:
            self.container.close()
            raise DataError(f"no video stream in source {path}")
        self.stream = self.container.streams.video[0]
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = imageio_fps(rate)
        self.header_frames = int(self.stream.frames or 0)
        self.decoded = 0

    def frames(self) -> Iterator[np.ndarray]:
        av = self._av
        try:
            for frame in self.container.decode(self.stream):
                self.decoded += 1
                yield frame.to_ndarray(format="rgb24")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise DataError(f"corrupt source {self.path}: decoding failed after {self.decoded} frames "
                            f"({_reason(exc)})") from None

    def whole(self) -> Iterator[np.ndarray]:
        """Every frame, then ``DataError`` when fewer frames decoded than the header announces."""
        yield from self.frames()
        if self.header_frames and self.decoded < self.header_frames:
            raise DataError(f"truncated source {self.path}: decoded {self.decoded} of {self.header_frames} frames")

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> SourceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
