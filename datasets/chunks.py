"""Cutting the chunks of one source video: ``load_videos.run`` of video-preprocessing for one ``video_id``.

Frames are streamed (the official keeps every chunk of a video in memory) and decoding stops after
the last frame any chunk needs. A bbox that does not lie inside the frame, an empty window, an
unreadable or truncated source each fail their chunks with one line (the official slices
silently, writes empty chunks, or keeps the frames decoded before a read error); chunks finished
before a decode error are kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.datasets.chunk_writer import ChunkWriter, remove_stale_temps
from bench.datasets.metadata import Box, Chunk, VideoJob
from bench.datasets.sources import SourceReader, find_source
from bench.datasets.windows import first_frame_at, in_window, rescale_bbox, resize_crop
from bench.errors import DataError


@dataclass
class JobResult:
    """What happened to one video's chunks: written / failed relative paths and one-line messages."""

    video_id: str
    written: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    short: list[str] = field(default_factory=list)
    missing: bool = False
    messages: list[str] = field(default_factory=list)

    def fail(self, chunks: Sequence[Chunk], message: str) -> None:
        self.failed += [c.relpath for c in chunks]
        self.messages.append(message)


@dataclass
class _Active:
    chunk: Chunk
    lo: int
    hi: int
    writer: ChunkWriter | None = None


def _crop_box(chunk: Chunk, job: VideoJob, shape: tuple[int, ...], source: Path) -> Box | str:
    """The rescaled crop box in a frame of ``shape``, or why it cannot be cut."""
    height, width = shape[0], shape[1]
    box = rescale_bbox(chunk.bbox, job.ref_width, job.ref_height, width, height)
    left, top, right, bot = box
    if not (0 <= left < right <= width and 0 <= top < bot <= height):
        return (f"bbox outside the frame: {chunk.relpath} (line {chunk.line}): bbox "
                f"{'-'.join(map(str, chunk.bbox))} of a {job.ref_width}x{job.ref_height} frame is "
                f"{left},{top},{right},{bot} in the {width}x{height} frames of {source.name}; chunk not written")
    return box


class _VideoCut:
    """The pending chunks of one opened source, cut in one pass over its frames."""

    def __init__(self, job: VideoJob, reader: SourceReader, out: Path, fmt: str, hw: tuple[int, int],
                 result: JobResult) -> None:
        self.job, self.reader, self.out, self.fmt, self.hw, self.result = job, reader, out, fmt, hw, result
        self.source = reader.path
        self.active: list[_Active] = []
        self.boxes: dict[tuple[int, ...], dict[int, Box | str]] = {}

    def open_windows(self, pending: Sequence[Chunk]) -> None:
        """Each chunk's frames ``[lo, hi)`` of the file; an empty window fails its chunk."""
        job, fps = self.job, self.reader.fps
        for chunk in pending:
            lo = first_frame_at(chunk.start, job.ref_fps, fps)
            hi = first_frame_at(chunk.end, job.ref_fps, fps)
            if hi <= lo:
                self.result.fail([chunk], f"empty window: {chunk.relpath} (line {chunk.line}): no frame i of "
                                          f"{self.source.name} ({fps:g} fps) has start <= i * {job.ref_fps} / "
                                          f"{fps:g} < end for start={chunk.start}, end={chunk.end}")
                continue
            self.active.append(_Active(chunk, lo, hi))

    def cut(self) -> str | None:
        """Stream the frames up to the last window's end; the error that stopped it, if one did."""
        reader = self.reader
        last = max((a.hi for a in self.active), default=0)
        try:
            for i, frame in enumerate(reader.frames()):
                if i >= last or not self.active:
                    break
                self._frame(i, frame)
            if self.active and reader.header_frames and reader.decoded < min(reader.header_frames, last):
                return f"truncated source {self.source}: decoded {reader.decoded} of {reader.header_frames} frames"
        except DataError as exc:
            return str(exc)
        except OSError as exc:
            return f"cannot write under {self.out}: {exc}"
        return None

    def _frame(self, i: int, frame: np.ndarray) -> None:
        """Frame ``i`` into every chunk whose window holds it; a chunk whose window ends is committed."""
        per_shape = self.boxes.setdefault(frame.shape, {})
        for entry in list(self.active):
            if not in_window(i, entry.chunk.start, entry.chunk.end, self.job.ref_fps, self.reader.fps):
                continue
            key = id(entry)
            if key not in per_shape:
                per_shape[key] = _crop_box(entry.chunk, self.job, frame.shape, self.source)
            box = per_shape[key]
            if isinstance(box, str):
                if entry.writer is not None:
                    entry.writer.abort()
                self.active.remove(entry)
                self.result.fail([entry.chunk], box)
                continue
            left, top, right, bot = box
            if entry.writer is None:
                entry.writer = ChunkWriter(entry.chunk.path(self.out), self.fmt)
            entry.writer.write(resize_crop(frame[top:bot, left:right], self.hw))
            if i + 1 >= entry.hi:
                entry.writer.commit()
                self.result.written.append(entry.chunk.relpath)
                self.active.remove(entry)

    def abort(self, error: str) -> None:
        """Drop the unfinished chunks after ``error``."""
        for entry in self.active:
            if entry.writer is not None:
                entry.writer.abort()
        if self.active:
            names = ", ".join(e.chunk.name for e in self.active)
            self.result.fail([e.chunk for e in self.active], f"{error}; chunk(s) not written: {names}")

    def finish(self) -> None:
        """The stream ended inside or before the windows still open: keep what was written (short)."""
        result, decoded = self.result, self.reader.decoded
        for entry in self.active:
            chunk = entry.chunk
            if entry.writer is None or entry.writer.count == 0:
                result.fail([chunk], f"empty window: {chunk.relpath} (line {chunk.line}): {self.source.name} has "
                                     f"{decoded} frames at {self.reader.fps:g} fps, the window starts at frame "
                                     f"{entry.lo}")
                continue
            try:
                entry.writer.commit()
            except OSError as exc:
                entry.writer.abort()
                result.fail([chunk], f"cannot write {chunk.relpath}: {exc}")
                continue
            result.written.append(chunk.relpath)
            result.short.append(chunk.relpath)
            result.messages.append(f"short chunk: {chunk.relpath}: {self.source.name} ends after {decoded} frames, "
                                   f"{entry.writer.count} of {entry.hi - entry.lo} frames written "
                                   f"(as load_videos.py does)")


def _open_source(job: VideoJob, videos: Path, pending: Sequence[Chunk], result: JobResult) -> SourceReader | None:
    """The source of ``job`` opened, or None with its chunks failed (missing or unreadable source)."""
    source = find_source(videos, job.source_stem)
    if source is None:
        result.missing = True
        result.fail(pending, f"missing source video: {videos / (job.source_stem + '.mp4')} "
                             f"({len(pending)} chunk(s) of video_id {job.video_id} not prepared)")
        return None
    try:
        return SourceReader(source)
    except DataError as exc:
        result.fail(pending, f"{exc}; {len(pending)} chunk(s) not written")
        return None


def prepare_video(job: VideoJob, videos: Path, out: Path, fmt: str, hw: tuple[int, int]) -> JobResult:
    """Cut and write the chunks of ``job`` that are not in ``out`` yet (``load_videos.run`` for one video)."""
    result = JobResult(job.video_id)
    pending = [c for c in job.chunks if not c.path(out).exists()]
    if not pending:
        return result
    for chunk in pending:
        remove_stale_temps(chunk.path(out))
    reader = _open_source(job, videos, pending, result)
    if reader is None:
        return result
    with reader:
        if reader.fps <= 0:
            result.fail(pending, f"unknown frame rate of source {reader.path}; {len(pending)} chunk(s) not written")
            return result
        cut = _VideoCut(job, reader, out, fmt, hw, result)
        cut.open_windows(pending)
        error = cut.cut()
        if error is not None:
            cut.abort(error)
        else:
            cut.finish()
    return result
