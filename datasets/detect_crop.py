"""``bench datasets prepare --detect face|body``: crops for videos without metadata.

The official crops of FOMM's datasets come from AliaksandrSiarohin/video-preprocessing:
``crop_vox.py`` (faces) and ``crop_taichi.py`` (bodies), both through ``util.py``'s
``crop_bbox_from_frames`` (:mod:`bench.datasets.tracking`, :mod:`bench.datasets.boxes`). This module
runs those rules on our detectors (:mod:`bench.datasets.detectors`) over a folder of videos and writes
the resulting chunks as a metadata CSV in ``load_videos.py``'s format
(``video_id,start,end,bbox,fps,width,height,partition``, start/end in frames of the file and fps the
file's, as ``crop_taichi.py`` writes them), so that the crop is reproducible: ``bench datasets
prepare --metadata`` then cuts exactly these boxes.

Differences: the detectors (dlib's HOG face detector instead of face-alignment's S3FD;
torchvision's Keypoint R-CNN instead of maskrcnn-benchmark's caffe2 model); faces are matched
to the previous frame's box instead of VoxCeleb's annotated box (none here); whole videos are
tracked instead of VoxCeleb utterances re-encoded at 25 fps; ``video_id`` is the file name without
its suffix; the partition is one ``--partition`` for all (the official lists test ids).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from bench.datasets.detectors import DetectorFactory, check_mode
from bench.datasets.metadata import PARTITIONS, read_metadata_rows, write_metadata
from bench.datasets.pool import echo_lines, progress_bar, run_jobs, summary_line
from bench.datasets.sources import SOURCE_SUFFIXES, SourceReader, list_sources
from bench.datasets.tracking import BodyParams, FaceParams, Segment, track_bodies, track_faces
from bench.errors import DataError, UserError
from bench.files import safe_name

Params = FaceParams | BodyParams


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def segment_rows(video_id: str, segments: Sequence[Segment], fps: float, partition: str) -> list[dict[str, str]]:
    """Metadata rows as util.py's ``scheduler`` writes them:
    ``{video_id},{start},{end},{bbox},{fps},{width},{height},{partition}`` with bbox ``l-t-r-b``."""
    return [{"video_id": video_id, "start": str(s.start), "end": str(s.end), "bbox": "-".join(map(str, s.bbox)),
             "fps": _number(fps), "width": str(s.width), "height": str(s.height), "partition": partition}
            for s in segments]


def detect_video(source: Path, mode: str, detector: Any, params: Params, partition: str) -> list[dict[str, str]]:
    """The metadata rows of one source video (``DataError`` when it cannot be decoded or its frame rate
    is unknown, which is checked before the detector sees a frame)."""
    with SourceReader(source) as reader:
        if reader.fps <= 0:
            raise DataError(f"unknown frame rate of {source}")
        track = track_faces if mode == "face" else track_bodies
        segments = track(reader.whole(), detector, params)
        if reader.decoded == 0:
            raise DataError(f"no frames decoded from {source}")
        return segment_rows(source.stem, segments, reader.fps, partition)


@dataclass
class DetectResult:
    video: str
    rows: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    cached: bool = False


_DETECTORS: dict[tuple, Any] = {}  # built once per process: (mode, factory) -> detector


def _detect_job(payload: tuple) -> DetectResult:
    source, mode, params, partition, cache_file, factory = payload
    result = DetectResult(source.name)
    if cache_file is not None and cache_file.is_file():
        result.rows = read_metadata_rows(cache_file)
        result.cached = True
        return result
    key = (mode, factory)
    if key not in _DETECTORS:
        _DETECTORS[key] = factory()
    try:
        result.rows = detect_video(source, mode, _DETECTORS[key], params, partition)
    except DataError as exc:
        result.error = str(exc)
        return result
    if cache_file is not None:
        write_metadata(cache_file, result.rows)
    return result


def _cache_key(mode: str, params: Params, detector_name: str, partition: str) -> str:
    payload = json.dumps({"mode": mode, "params": asdict(params), "detector": detector_name,
                          "partition": partition, "version": 1}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass
class DetectSummary:
    csv: Path
    videos: int = 0
    chunks: int = 0
    cached: int = 0
    without_chunks: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def line(self) -> str:
        head = f"{self.csv}: {self.chunks} chunk(s) from {self.videos} video(s)"
        if self.cached:
            head += f" ({self.cached} from an earlier run)"
        return summary_line(head, ((len(self.without_chunks), "video(s) without a usable track"),
                                   (len(self.failed), "unreadable")))


def _sources(videos: Path) -> list[Path]:
    """The videos to track, each with a ``video_id`` (its stem) that can be a name on disk."""
    sources = list_sources(videos)
    if not sources:
        raise DataError(f"no videos ({', '.join(SOURCE_SUFFIXES)}) in {videos}")
    for source in sources:
        safe_name(source.stem, f"{source}: video_id")
    return sources


def _check_options(mode: str, partition: str, workers: int) -> None:
    check_mode(mode)
    if partition not in PARTITIONS:
        raise UserError(f"--partition must be train or test, got {partition!r}")
    if workers < 1:
        raise UserError("--workers must be at least 1")


def detect_metadata(videos: str | Path, out_csv: str | Path, mode: str, partition: str = "test",
                    params: Params | None = None, workers: int = 1, cache_dir: str | Path | None = None,
                    device: str = "cpu", weights_dir: str | Path | None = None,
                    detector_factory: Callable[[], object] | None = None, progress: bool = False,
                    echo: Callable[[str], None] | None = None, allow_download: bool = False) -> DetectSummary:
    """Detect and track faces or persons in every video of ``videos`` and write the metadata CSV.

    Per-video results are cached in ``cache_dir`` (keyed by mode, parameters, detector and partition)
    so an interrupted run resumes, without building the detector when every video is cached;
    unreadable videos are reported one line each and skipped. ``detector_factory`` replaces the
    default detector (it must be picklable when ``workers`` > 1).
    """
    _check_options(mode, partition, workers)
    params = params or (FaceParams() if mode == "face" else BodyParams())
    sources = _sources(Path(videos))
    factory = detector_factory or DetectorFactory(mode, device, None if weights_dir is None else str(weights_dir),
                                                  allow_download)
    key = _cache_key(mode, params, str(getattr(factory, "name", repr(factory))), partition)
    cache = Path(cache_dir) if cache_dir is not None else None
    payloads = [(src, mode, params, partition, cache / f"{src.name}.{key}.csv" if cache else None, factory)
                for src in sources]
    if isinstance(factory, DetectorFactory) and not all(p[4] is not None and p[4].is_file() for p in payloads):
        factory.check()  # fail early (missing dlib / weights) with one line
    echo = echo_lines(echo)
    summary = DetectSummary(Path(out_csv), videos=len(sources))
    results: dict[str, DetectResult] = {}
    with progress_bar(len(payloads), "video", f"detect {mode}", progress) as bar:
        for result in run_jobs(_detect_job, payloads, workers):
            results[result.video] = result
            if result.error:
                summary.failed.append(result.video)
                echo(f"{result.error}; no crops detected for {result.video}")
            elif not result.rows:
                summary.without_chunks.append(result.video)
                echo(f"no {mode} track in {result.video} passes the filters "
                     f"(min {params.min_frames} frames, min {params.min_size} px, not near the border)")
            summary.cached += result.cached
            bar.update(1)
    rows = [row for src in sources for row in results[src.name].rows]
    summary.chunks = len(rows)
    write_metadata(Path(out_csv), rows)
    return summary
