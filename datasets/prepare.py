"""``bench datasets prepare``: raw videos plus a FOMM metadata CSV -> the FOMM on-disk layout.

This reproduces ``load_videos.py`` of AliaksandrSiarohin/video-preprocessing (the script behind the
published VoxCeleb, Tai-Chi-HD and UvA-Nemo crops, run on ``vox-metadata.csv``,
``taichi-metadata.csv`` and ``nemo-metadata.csv``), without its download step, in these parts:

* :mod:`bench.datasets.metadata`: the CSV (``video_id,start,end,bbox,fps,width,height,partition
  [,person_id]``; a video's reference values from its first row) and the chunk names
  ``<out>/<partition>/<person_id#><'#'.join(reversed(video_id.split('#')))>#<start:06>#<end:06>.mp4``;
* :mod:`bench.datasets.windows`: which frames (``i * ref_fps >= start * fps and i * ref_fps < end *
  fps``, ``fps`` as imageio reports it) and which pixels (the bbox rescaled per frame, cropped and
  resized as ``img_as_ubyte(skimage.transform.resize(crop, image_shape, anti_aliasing=True))``);
* :mod:`bench.datasets.sources`, :mod:`bench.datasets.chunks`, :mod:`bench.datasets.chunk_writer`:
  reading a source once and writing its chunks (mp4 as ``imageio.mimsave`` or png folders);
* :mod:`bench.datasets.pool`: one process per video with ``--workers``.

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
* a ``video_id`` or ``person_id`` that is not a plain name (a path separator or ``..``) is an error
  naming its line, before anything is written (the official would write outside its folder);
* mp4 is encoded like ``imageio.mimsave`` with its defaults (libx264, yuv420p, quality 5 = CRF 25,
  10 fps) but through PyAV, so bytes (not the recipe) differ; png is lossless (PIL instead of imageio:
  identical pixels).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench.datasets.chunk_writer import FORMATS
from bench.datasets.chunks import JobResult, prepare_video
from bench.datasets.metadata import PARTITIONS, VideoJob, read_metadata
from bench.datasets.pool import echo_lines, progress_bar, run_jobs, summary_line
from bench.errors import DataError, UserError


def _run_job(payload: tuple[VideoJob, Path, Path, str, tuple[int, int]]) -> JobResult:
    return prepare_video(*payload)


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

    def add(self, result: JobResult) -> None:
        self.written += len(result.written)
        self.short += len(result.short)
        self.failed += len(result.failed)
        if result.missing:
            self.missing_videos.append(result.video_id)

    def line(self) -> str:
        return summary_line(f"{self.out}: {self.written} chunk(s) written, {self.existing} already there, "
                            f"{self.failed} not prepared, of {self.total}",
                            ((self.short, "short (source ends inside the window)"),
                             (len(self.missing_videos), "source video(s) missing")))


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


def _unfinished(jobs: list[VideoJob], out: Path, summary: PrepareSummary) -> list[VideoJob]:
    """The videos with a chunk not in ``out`` yet (counting every chunk and those already there)."""
    todo = []
    for job in jobs:
        summary.total += len(job.chunks)
        done = sum(c.path(out).exists() for c in job.chunks)
        summary.existing += done
        if done < len(job.chunks):
            todo.append(job)
    return todo


def prepare(metadata: str | Path, videos: str | Path, out: str | Path, fmt: str = "mp4",
            size: int | str | tuple[int, int] = 256, workers: int = 1, progress: bool = False,
            echo: Callable[[str], None] | None = None) -> PrepareSummary:
    """Cut every chunk of ``metadata`` from the sources in ``videos`` into ``out/{train,test}``.

    Finished chunks are skipped; problems (missing source, bbox outside the frame, empty window,
    unreadable source) are passed to ``echo`` one line each and counted, the other videos go on.
    ``workers`` > 1 runs videos in that many processes.
    """
    if workers < 1:
        raise UserError("--workers must be at least 1")
    hw = output_shape(fmt, size)
    videos, out = Path(videos), Path(out)
    if not videos.is_dir():
        raise DataError(f"videos folder not found: {videos}")
    jobs = read_metadata(metadata)
    summary = PrepareSummary(out)
    todo = _unfinished(jobs, out, summary)
    try:
        for partition in PARTITIONS:  # load_videos.py creates both, so an empty split still verifies
            (out / partition).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {out}: {exc.strerror}") from None
    echo = echo_lines(echo)
    payloads = [(job, videos, out, fmt, hw) for job in todo]
    with progress_bar(summary.total - summary.existing, "chunk", "prepare", progress) as bar:
        for result in run_jobs(_run_job, payloads, workers):
            for message in result.messages:
                echo(message)
            summary.add(result)
            bar.update(len(result.written) + len(result.failed))
    return summary
