"""``bench datasets prepare``: raw videos plus a FOMM metadata CSV -> the FOMM on-disk layout.

This reproduces ``load_videos.py`` of AliaksandrSiarohin/video-preprocessing (the script behind the
published VoxCeleb, Tai-Chi-HD and UvA-Nemo crops, run on ``vox-metadata.csv``,
``taichi-metadata.csv`` and ``nemo-metadata.csv``), without its download step:

* metadata columns ``video_id,start,end,bbox,fps,width,height,partition[,person_id]``; the rows of
  one ``video_id`` are cut from ``<videos>/<video_id before the first '#'>.mp4``, and, as
  ``load_videos.py`` does, that video's ``fps``, ``width``, ``height``, ``partition`` and
  ``person_id`` come from its *first* row;
* a chunk takes the frames ``i`` (0-based decode order) with
  ``i * ref_fps >= start * fps and i * ref_fps < end * fps``, ``ref_fps`` being the metadata's fps
  and ``fps`` the file's, as imageio reports it (ffmpeg's printed ``avg_frame_rate``, see
  :func:`imageio_fps`);
* the bbox ``left-top-right-bot`` is rescaled per frame as ``int(left / (ref_width / W))`` (``W``,
  ``H`` the decoded frame's size), cropped ``frame[top:bot, left:right]`` and resized with
  ``img_as_ubyte(skimage.transform.resize(crop, image_shape, anti_aliasing=True))`` (bilinear,
  ``mode='reflect'``, Gaussian pre-filter);
* the chunk is ``<out>/<partition>/<person_id#><'#'.join(reversed(video_id.split('#')))>#<start:06>#<end:06>.mp4``
  (``str(start).zfill(6)``), an mp4 file or, with ``--format png``, a folder of that name holding
  ``0000000.png ...``.

Where this differs, on purpose:

* nothing is downloaded; a source may also be ``.mkv``/``.webm``/``.mov``/``.avi`` (tried after
  ``.mp4``); a missing source is reported by name and skipped;
* frames are streamed (the official keeps every chunk of a video in memory) and decoding stops
  after the last frame any chunk needs;
* a bbox that does not lie inside the frame, an empty window, an unreadable or truncated source
  each fail their chunks with one line (the official slices silently, writes empty chunks, or
  keeps the frames decoded before a read error); chunks finished before a decode error are kept;
* each chunk is written under a hidden temporary name and renamed when complete, so reruns skip
  finished chunks and never see partial ones;
* mp4 is encoded like ``imageio.mimsave`` with its defaults (libx264, yuv420p, quality 5 = CRF 25,
  10 fps) but through PyAV, so bytes (not the recipe) differ; png is lossless (PIL instead of imageio:
  identical pixels).
"""
from __future__ import annotations

import csv
import glob
import math
import multiprocessing
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from bench.datasets.video_io import SPLITS
from bench.errors import DataError, UserError

METADATA_COLUMNS = ("video_id", "start", "end", "bbox", "fps", "width", "height", "partition")
PERSON_COLUMN = "person_id"
PARTITIONS = SPLITS  # load_videos.py's partitions are the dataset layout's splits
SOURCE_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi")
FORMATS = ("mp4", "png")

# imageio.mimsave(path, frames) for .mp4 = imageio's FFMPEG writer defaults: fps=10, codec='libx264',
# pixelformat='yuv420p', quality=5, which imageio-ffmpeg turns into '-crf int((1 - 5 / 10) * 51)'.
MP4_FPS = 10
MP4_CODEC = "libx264"
MP4_PIX_FMT = "yuv420p"
MP4_CRF = int((1 - 5 / 10.0) * 51)

_INT = re.compile(r"^\s*[+-]?\d+\s*$")
Number = int | float
Box = tuple[int, int, int, int]


# --------------------------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class Chunk:
    """One row of the metadata: a time window and a crop of one source video."""

    video_id: str
    start: Number
    end: Number
    bbox: Box
    line: int
    name: str
    partition: str

    @property
    def relpath(self) -> str:
        return f"{self.partition}/{self.name}"


@dataclass(frozen=True)
class VideoJob:
    """All chunks of one ``video_id``, with the reference values of its first row (as ``load_videos.run``)."""

    video_id: str
    ref_fps: Number
    ref_width: Number
    ref_height: Number
    partition: str
    chunks: tuple[Chunk, ...]

    @property
    def source_stem(self) -> str:
        """``load_videos.run``: the file is ``video_id.split('#')[0] + '.mp4'``."""
        return self.video_id.split("#")[0]


def chunk_name(video_id: str, start_text: str, end_text: str, person_id: str | None) -> str:
    """The output name of ``load_videos.run``: ``person_id + '#'`` (when the CSV has that column),
    then ``'#'.join(video_id.split('#')[::-1])``, then ``'#' + str(start).zfill(6) + '#' +
    str(end).zfill(6) + '.mp4'`` (also the folder name with ``--format png``)."""
    first = (f"{person_id}#" if person_id is not None else "") + "#".join(video_id.split("#")[::-1])
    return f"{first}#{start_text.zfill(6)}#{end_text.zfill(6)}.mp4"


def _column_numbers(path: Path, rows: list[dict[str, str]], column: str, lines: list[int]) -> list[Number]:
    """The values of ``column`` typed as pandas.read_csv types them: all integers -> int, else float,
    so that ``str(value)`` in the names matches the official (``80`` vs ``80.0``)."""
    texts = [(row.get(column) or "").strip() for row in rows]
    for text, line in zip(texts, lines):
        if not text:
            raise DataError(f"{path}:{line}: empty '{column}'")
    if all(_INT.match(text) for text in texts):
        return [int(text) for text in texts]
    values = []
    for text, line in zip(texts, lines):
        try:
            value = float(text)
        except ValueError:
            raise DataError(f"{path}:{line}: '{column}' is {text!r}, not a number") from None
        if not math.isfinite(value):
            raise DataError(f"{path}:{line}: '{column}' is {text!r}, not a finite number")
        values.append(value)
    return values


def _parse_bbox(path: Path, line: int, text: str) -> Box:
    """``list(map(int, bbox.split('-')))`` as ``load_videos.run``: four integers left-top-right-bot."""
    parts = text.strip().split("-")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise DataError(f"{path}:{line}: bbox {text!r} is not left-top-right-bot (four non-negative integers)")
    return values  # type: ignore[return-value]


def read_metadata(path: str | Path) -> list[VideoJob]:
    """The videos of a FOMM metadata CSV, in order of first appearance, each with its chunks.

    A missing file, a missing column, an empty or non-numeric value or a malformed bbox raises
    ``DataError`` naming the line. Rows that would write the same output file are kept once.
    """
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            rows = list(reader)
    except FileNotFoundError:
        raise DataError(f"metadata CSV not found: {path}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read metadata CSV {path}: {exc}") from None
    missing = [c for c in METADATA_COLUMNS if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected "
                        f"{','.join(METADATA_COLUMNS)}[,{PERSON_COLUMN}] (video-preprocessing's metadata format)")
    if not rows:
        raise DataError(f"{path}: no rows")
    lines = [reader_line + 2 for reader_line in range(len(rows))]  # header is line 1
    numbers = {c: _column_numbers(path, rows, c, lines) for c in ("start", "end", "fps", "width", "height")}
    has_person = PERSON_COLUMN in header
    for i, row in enumerate(rows):
        line = lines[i]
        if not (row.get("video_id") or "").strip():
            raise DataError(f"{path}:{line}: empty video_id")
        if (row.get("partition") or "").strip() not in PARTITIONS:
            raise DataError(f"{path}:{line}: partition {row.get('partition')!r} is not train or test")
        if has_person and not (row.get(PERSON_COLUMN) or "").strip():
            raise DataError(f"{path}:{line}: empty {PERSON_COLUMN}")
        for column in ("fps", "width", "height"):
            if numbers[column][i] <= 0:
                raise DataError(f"{path}:{line}: {column} must be positive, got {numbers[column][i]}")

    first_row: dict[str, int] = {}
    members: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        vid = row["video_id"].strip()
        first_row.setdefault(vid, i)
        members.setdefault(vid, []).append(i)
    jobs: list[VideoJob] = []
    seen: dict[str, int] = {}
    for vid, indices in members.items():
        head = first_row[vid]
        person = rows[head][PERSON_COLUMN].strip() if has_person else None
        partition = rows[head]["partition"].strip()
        chunks = []
        for i in indices:
            start, end = numbers["start"][i], numbers["end"][i]
            name = chunk_name(vid, str(start), str(end), person)
            chunk = Chunk(vid, start, end, _parse_bbox(path, lines[i], rows[i]["bbox"]), lines[i], name, partition)
            if chunk.relpath in seen:
                continue  # the official would write the same file twice
            seen[chunk.relpath] = lines[i]
            chunks.append(chunk)
        jobs.append(VideoJob(vid, numbers["fps"][head], numbers["width"][head], numbers["height"][head],
                             partition, tuple(chunks)))
    return jobs


# ------------------------------------------------------------------------------------ official formulas


def imageio_fps(rate: Fraction | float | None) -> float:
    """The fps ``imageio.get_reader(path).get_meta_data()['fps']`` gives ``load_videos.py``:
    imageio-ffmpeg parses the ``<x> fps`` that ffmpeg prints for the stream's ``avg_frame_rate``,
    and ffmpeg's ``print_fps`` rounds it (``%3.2f`` unless whole, ``%1.4f`` below 0.005), e.g.
    30000/1001 -> 29.97. 0.0 when unknown."""
    if rate is None:
        return 0.0
    d = float(rate)
    if not math.isfinite(d) or d <= 0:
        return 0.0
    v = int(np.rint(np.float32(d * 100)))  # lrintf(d * 100)
    if v == 0:
        return float("%1.4f" % d)
    if v % 100:
        return float("%3.2f" % d)
    if v % (100 * 1000):
        return float("%1.0f" % d)
    return d  # ffmpeg prints "<n>k fps", which imageio-ffmpeg does not parse; keep the rate


def in_window(i: int, start: Number, end: Number, ref_fps: Number, fps: float) -> bool:
    """``load_videos.run``: frame ``i`` belongs to the chunk when
    ``i * ref_fps >= start * fps and i * ref_fps < end * fps``."""
    return (i * ref_fps >= start * fps) and (i * ref_fps < end * fps)


def first_frame_at(t: Number, ref_fps: Number, fps: float) -> int:
    """The smallest frame index ``i >= 0`` with ``i * ref_fps >= t * fps`` (the same float expression
    as :func:`in_window`), so ``[first_frame_at(start), first_frame_at(end))`` is a chunk's frames."""
    i = max(0, int(math.floor(t * fps / ref_fps)) - 2)
    while not i * ref_fps >= t * fps:
        i += 1
    while i > 0 and (i - 1) * ref_fps >= t * fps:
        i -= 1
    return i


def rescale_bbox(bbox: Box, ref_width: Number, ref_height: Number, width: int, height: int) -> Box:
    """``load_videos.run``: ``left = int(left / (ref_width / frame.shape[1]))`` and likewise for
    top, right (width) and bot (height): the metadata's box in the decoded frame's pixels."""
    left, top, right, bot = bbox
    return (int(left / (ref_width / width)), int(top / (ref_height / height)),
            int(right / (ref_width / width)), int(bot / (ref_height / height)))


def resize_crop(crop: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """``load_videos.run``: ``img_as_ubyte(resize(crop, image_shape, anti_aliasing=True))`` with
    scikit-image's defaults (bilinear ``order=1``, ``mode='reflect'``, Gaussian anti-aliasing with
    ``sigma = (scale - 1) / 2``, values in [0, 1], rounded to uint8)."""
    from skimage import img_as_ubyte
    from skimage.transform import resize

    return img_as_ubyte(resize(crop, hw, anti_aliasing=True))


# ------------------------------------------------------------------------------------------- sources


def find_source(videos: Path, stem: str) -> Path | None:
    """``<videos>/<stem>.mp4`` (the official name), else the same stem with another movie suffix."""
    for suffix in SOURCE_SUFFIXES:
        candidate = videos / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


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

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> SourceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_source_frames(path: Path) -> Iterator[tuple[float, np.ndarray]]:
    """``(fps, frame)`` for each frame of a source (used by the detection pass)."""
    with SourceReader(path) as reader:
        for frame in reader.frames():
            yield reader.fps, frame
        if reader.header_frames and reader.decoded < reader.header_frames:
            raise DataError(f"truncated source {path}: decoded {reader.decoded} of {reader.header_frames} frames")


# ------------------------------------------------------------------------------------------- writers


def _temp_path(final: Path) -> Path:
    return final.parent / f".{final.name}.tmp-{os.getpid()}"


def remove_stale_temps(final: Path) -> None:
    """Remove what an interrupted run left of ``final`` (hidden ``.<name>.tmp-<pid>``)."""
    for leftover in glob.glob(str(final.parent / f".{glob.escape(final.name)}.tmp-*")):
        _remove(Path(leftover))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


class ChunkWriter:
    """Writes one chunk under a hidden temporary name; :meth:`commit` renames it into place."""

    def __init__(self, final: Path, fmt: str) -> None:
        self.final = final
        self.fmt = fmt
        self.tmp = _temp_path(final)
        self.count = 0
        self._container = None
        self._stream = None

    def write(self, frame: np.ndarray) -> None:
        if self.fmt == "png":
            from PIL import Image

            if self.count == 0:
                self.tmp.mkdir(parents=True)
            Image.fromarray(frame).save(self.tmp / f"{self.count:07d}.png")  # util.save: str(j).zfill(7) + '.png'
        else:
            import av

            if self._container is None:
                self._container = av.open(str(self.tmp), "w", format="mp4")
                self._stream = self._container.add_stream(MP4_CODEC, rate=MP4_FPS)
                self._stream.width, self._stream.height = frame.shape[1], frame.shape[0]
                self._stream.pix_fmt = MP4_PIX_FMT
                self._stream.options = {"crf": str(MP4_CRF)}
            for packet in self._stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                self._container.mux(packet)
        self.count += 1

    def commit(self) -> None:
        if self._container is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None
        os.replace(self.tmp, self.final) if self.fmt == "mp4" else os.rename(self.tmp, self.final)

    def abort(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - the temp file goes anyway
                pass
            self._container = None
        _remove(self.tmp)


# ------------------------------------------------------------------------------------------ one video


@dataclass
class JobResult:
    """What happened to one video's chunks: written / failed relative paths and one-line messages."""

    video_id: str
    written: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    short: list[str] = field(default_factory=list)
    missing: bool = False
    messages: list[str] = field(default_factory=list)


@dataclass
class _Active:
    chunk: Chunk
    lo: int
    hi: int
    writer: ChunkWriter | None = None


def _fail(result: JobResult, chunk: Chunk, message: str) -> None:
    result.failed.append(chunk.relpath)
    result.messages.append(message)


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


def prepare_video(job: VideoJob, videos: Path, out: Path, fmt: str, hw: tuple[int, int]) -> JobResult:
    """Cut and write the chunks of ``job`` that are not in ``out`` yet (``load_videos.run`` for one video)."""
    result = JobResult(job.video_id)
    pending = [c for c in job.chunks if not (out / c.partition / c.name).exists()]
    if not pending:
        return result
    for chunk in pending:
        remove_stale_temps(out / chunk.partition / chunk.name)
    source = find_source(videos, job.source_stem)
    if source is None:
        result.missing = True
        result.failed += [c.relpath for c in pending]
        result.messages.append(f"missing source video: {videos / (job.source_stem + '.mp4')} "
                               f"({len(pending)} chunk(s) of video_id {job.video_id} not prepared)")
        return result
    try:
        reader = SourceReader(source)
    except DataError as exc:
        result.failed += [c.relpath for c in pending]
        result.messages.append(f"{exc}; {len(pending)} chunk(s) not written")
        return result
    with reader:
        fps = reader.fps
        if fps <= 0:
            result.failed += [c.relpath for c in pending]
            result.messages.append(f"unknown frame rate of source {source}; {len(pending)} chunk(s) not written")
            return result
        active: list[_Active] = []
        for chunk in pending:
            lo = first_frame_at(chunk.start, job.ref_fps, fps)
            hi = first_frame_at(chunk.end, job.ref_fps, fps)
            if hi <= lo:
                _fail(result, chunk, f"empty window: {chunk.relpath} (line {chunk.line}): no frame i of "
                                     f"{source.name} ({fps:g} fps) has start <= i * {job.ref_fps} / {fps:g} < end "
                                     f"for start={chunk.start}, end={chunk.end}")
                continue
            active.append(_Active(chunk, lo, hi))
        last = max((a.hi for a in active), default=0)
        boxes: dict[tuple[int, ...], dict[int, Box | str]] = {}
        error: str | None = None
        try:
            for i, frame in enumerate(reader.frames()):
                if i >= last or not active:
                    break
                per_shape = boxes.setdefault(frame.shape, {})
                for entry in list(active):
                    if not in_window(i, entry.chunk.start, entry.chunk.end, job.ref_fps, fps):
                        continue
                    key = id(entry)
                    if key not in per_shape:
                        per_shape[key] = _crop_box(entry.chunk, job, frame.shape, source)
                    box = per_shape[key]
                    if isinstance(box, str):
                        if entry.writer is not None:
                            entry.writer.abort()
                        active.remove(entry)
                        _fail(result, entry.chunk, box)
                        continue
                    left, top, right, bot = box
                    if entry.writer is None:
                        entry.writer = ChunkWriter(out / entry.chunk.partition / entry.chunk.name, fmt)
                    entry.writer.write(resize_crop(frame[top:bot, left:right], hw))
                    if i + 1 >= entry.hi:
                        entry.writer.commit()
                        result.written.append(entry.chunk.relpath)
                        active.remove(entry)
            if active and reader.header_frames and reader.decoded < min(reader.header_frames, last):
                error = (f"truncated source {source}: decoded {reader.decoded} of {reader.header_frames} frames")
        except DataError as exc:
            error = str(exc)
        except OSError as exc:
            error = f"cannot write under {out}: {exc}"
        if error is not None:
            for entry in active:
                if entry.writer is not None:
                    entry.writer.abort()
            if active:
                result.failed += [e.chunk.relpath for e in active]
                names = ", ".join(e.chunk.name for e in active)
                result.messages.append(f"{error}; chunk(s) not written: {names}")
            return result
        for entry in active:  # the stream ended inside or before the window
            if entry.writer is None or entry.writer.count == 0:
                _fail(result, entry.chunk, f"empty window: {entry.chunk.relpath} (line {entry.chunk.line}): "
                                           f"{source.name} has {reader.decoded} frames at {fps:g} fps, the window "
                                           f"starts at frame {entry.lo}")
                continue
            try:
                entry.writer.commit()
            except OSError as exc:
                entry.writer.abort()
                _fail(result, entry.chunk, f"cannot write {entry.chunk.relpath}: {exc}")
                continue
            result.written.append(entry.chunk.relpath)
            result.short.append(entry.chunk.relpath)
            result.messages.append(f"short chunk: {entry.chunk.relpath}: {source.name} ends after {reader.decoded} "
                                   f"frames, {entry.writer.count} of {entry.hi - entry.lo} frames written "
                                   f"(as load_videos.py does)")
    return result


def _run_job(payload: tuple[VideoJob, Path, Path, str, tuple[int, int]]) -> JobResult:
    return prepare_video(*payload)


# ---------------------------------------------------------------------------------------------- driver


@dataclass
class PrepareSummary:
    """Counts of a ``prepare`` run; ``ok`` is False when a source was missing or a chunk failed."""

    out: Path
    total: int = 0
    existing: int = 0
    written: int = 0
    short: int = 0
    failed: int = 0
    missing_videos: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.missing_videos

    def line(self) -> str:
        text = (f"{self.out}: {self.written} chunk(s) written, {self.existing} already there, "
                f"{self.failed} not prepared, of {self.total}")
        if self.short:
            text += f"; {self.short} short (source ends inside the window)"
        if self.missing_videos:
            text += f"; {len(self.missing_videos)} source video(s) missing"
        return text


def parse_size(text: str | int | tuple[int, int]) -> tuple[int, int]:
    """``256`` -> (256, 256); ``'256,192'`` -> (256, 192) (H, W as ``--image_shape`` of load_videos.py)."""
    if isinstance(text, tuple):
        hw = text
    elif isinstance(text, int):
        hw = (text, text)
    else:
        try:
            parts = tuple(int(p) for p in str(text).split(","))
        except ValueError:
            raise UserError(f"--size {text!r}: expected N or H,W in pixels") from None
        if len(parts) not in (1, 2):
            raise UserError(f"--size {text!r}: expected N or H,W in pixels")
        hw = (parts[0], parts[-1])
    if min(hw) < 1:
        raise UserError(f"--size must be positive, got {text}")
    return (int(hw[0]), int(hw[1]))


def output_shape(fmt: str, size: int | str | tuple[int, int]) -> tuple[int, int]:
    """The (H, W) of the chunks; checks the format and that mp4 (yuv420p) gets even sides."""
    if fmt not in FORMATS:
        raise UserError(f"unknown --format {fmt!r}; choose from: {', '.join(FORMATS)}")
    hw = parse_size(size)
    if fmt == "mp4" and (hw[0] % 2 or hw[1] % 2):
        raise UserError(f"--size {hw[0]},{hw[1]}: mp4 (yuv420p) needs even sides; use an even size or --format png")
    return hw


def prepare(metadata: str | Path, videos: str | Path, out: str | Path, fmt: str = "mp4",
            size: int | str | tuple[int, int] = 256, workers: int = 1, progress: bool = False,
            echo: Callable[[str], None] | None = None) -> PrepareSummary:
    """Cut every chunk of ``metadata`` from the sources in ``videos`` into ``out/{train,test}``.

    Finished chunks are skipped; problems (missing source, bbox outside the frame, empty window,
    unreadable source) are passed to ``echo`` one line each and counted, the other videos go on.
    ``workers`` > 1 runs videos in that many processes.
    """
    from tqdm import tqdm

    if workers < 1:
        raise UserError("--workers must be at least 1")
    hw = output_shape(fmt, size)
    videos, out = Path(videos), Path(out)
    if not videos.is_dir():
        raise DataError(f"videos folder not found: {videos}")
    jobs = read_metadata(metadata)
    try:
        for partition in PARTITIONS:  # load_videos.py creates both, so an empty split still verifies
            (out / partition).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {out}: {exc.strerror}") from None
    echo = echo or (lambda line: tqdm.write(line))
    summary = PrepareSummary(out)
    todo = []
    for job in jobs:
        summary.total += len(job.chunks)
        done = sum((out / c.partition / c.name).exists() for c in job.chunks)
        summary.existing += done
        if done < len(job.chunks):
            todo.append(job)
    pending = summary.total - summary.existing
    bar = tqdm(total=pending, unit="chunk", desc="prepare", disable=not progress, file=sys.stderr)
    payloads = [(job, videos, out, fmt, hw) for job in todo]

    def collect(results: Iterable[JobResult]) -> None:
        for result in results:
            for message in result.messages:
                echo(message)
            summary.written += len(result.written)
            summary.short += len(result.short)
            summary.failed += len(result.failed)
            if result.missing:
                summary.missing_videos.append(result.video_id)
            bar.update(len(result.written) + len(result.failed))

    try:
        if workers == 1 or len(payloads) <= 1:
            collect(_run_job(p) for p in payloads)
        else:
            with multiprocessing.get_context("spawn").Pool(min(workers, len(payloads))) as pool:
                collect(pool.imap_unordered(_run_job, payloads))
    finally:
        bar.close()
    return summary
