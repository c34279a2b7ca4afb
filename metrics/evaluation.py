"""Scoring videos made elsewhere against the real videos of the same name (``bench evaluate``).

Generated and real videos may be in any FOMM format (frame folder, mp4, gif, png strip, e.g.
FOMM's reconstruction output ``<video>.png``); generated videos are read as pose-evaluation's ``frames2array``
reads them (:func:`read_generated`);
names match once video suffixes are removed
(``abc.mp4.png`` <-> ``abc.mp4`` <-> folder ``abc``). Pairs whose frame count or frame size
differ are skipped and reported, never cropped or resized.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from bench.datasets.video_io import (FRAME_SUFFIXES, MOVIE_SUFFIXES, read_frames, read_video, split_entries,
                                    to_tensor, video_kind)
from bench.errors import DataError, UserError
from bench.metrics.aggregation import DEFAULT_CONVENTION, MetricResult, aggregate
from bench.metrics.base import Metric
from bench.metrics.bootstrap import IntervalSpec
from bench.metrics.pose_evaluation import split_strip

VIDEO_SUFFIXES = tuple(sorted({*MOVIE_SUFFIXES, *FRAME_SUFFIXES, ".gif"}))


def video_key(name: str) -> str:
    """A video's name without its (possibly doubled) video/image suffixes."""
    while True:
        suffix = Path(name).suffix.lower()
        if suffix not in VIDEO_SUFFIXES or suffix == name.lower():
            return name
        name = name[: -len(suffix)]


def index_videos(folder: Path) -> dict[str, Path]:
    """``{key: path}`` of the videos directly in ``folder``; two videos with one key are an error."""
    if not folder.is_dir():
        raise DataError(f"folder not found: {folder}")
    found: dict[str, Path] = {}
    for path in split_entries(folder):
        if video_kind(path) is None:
            continue
        key = video_key(path.name)
        if key in found:
            raise DataError(f"two videos named '{key}' in {folder}: {found[key].name}, {path.name}")
        found[key] = path
    return found


def real_split_dir(root: str | Path) -> Path:
    """``ROOT/test`` when present (FOMM layout), else ``ROOT`` itself."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"real root not found: {root}")
    return root / "test" if (root / "test").is_dir() else root


def read_sources(path: str | Path) -> dict[str, Path]:
    """``--sources`` CSV with columns ``generated,source_image`` -> ``{video key: image path}``.

    Relative image paths are relative to the CSV's folder.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"sources file not found: {path}")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
            header = set(rows[0]) if rows else set()
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: not a UTF-8 CSV file ({type(exc).__name__})") from None
    if not {"generated", "source_image"} <= header:
        raise UserError(f"{path}: expected a CSV header 'generated,source_image' and rows, got {sorted(header)}")
    sources = {}
    for line, row in enumerate(rows, start=2):
        if not row.get("generated") or not row.get("source_image"):
            raise UserError(f"{path}: line {line} lacks its generated video or its source image: {row}")
        image = Path(row["source_image"])
        sources[video_key(Path(row["generated"]).name)] = image if image.is_absolute() else path.parent / image
    return sources


@dataclass
class Evaluation:
    """Results of an evaluation: metric results and videos skipped with the reason."""

    results: dict[str, MetricResult]
    skipped: dict[str, str] = field(default_factory=dict)
    evaluated: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Scoring:
    """How generated folders are scored: frames per metric update, the image of side-by-side frames to score
    (``column`` as in :func:`read_generated`), the averaging convention and the intervals."""

    batch_size: int = 16
    column: int | None = None
    convention: str = DEFAULT_CONVENTION
    intervals: IntervalSpec | None = None


def evaluate_folders(real_root: str | Path, generated_dir: str | Path, metrics: dict[str, Metric],
                     sources: dict[str, Path] | None = None, scoring: Scoring = Scoring(),
                     unavailable: dict[str, str] | None = None,
                     progress: Callable[[str], None] | None = None) -> Evaluation:
    """Update every metric with each (generated, real) pair of videos, one batch at a time; then aggregate.
    ``unavailable`` metrics (not built: N/A, with their reason) are reported in the results too."""
    real = index_videos(real_split_dir(real_root))
    generated = index_videos(Path(generated_dir))
    if not generated:
        raise DataError(f"no videos found in {generated_dir}")
    evaluation = Evaluation({})
    for key, gen_path in generated.items():
        reason = _score_pair(key, gen_path, real, sources or {}, metrics, scoring)
        if reason is not None:
            evaluation.skipped[key] = reason
            continue
        evaluation.evaluated.append(key)
        if progress:
            progress(key)
    results = {name: aggregate(metric.compute(), scoring.convention, scoring.intervals)
               for name, metric in metrics.items()}
    results.update({name: MetricResult(name, None, na_reason=why) for name, why in (unavailable or {}).items()})
    evaluation.results = results
    return evaluation


def _score_pair(key: str, gen_path: Path, real: dict[str, Path], sources: dict[str, Path], metrics: dict[str, Metric],
                scoring: Scoring) -> str | None:
    """Feed the metrics one generated video and its real one; why it was skipped (None when scored)."""
    reason = _pair_problem(key, real, sources)
    if reason is not None:
        return reason
    real_frames = read_video(real[key])
    gen_frames = read_generated(gen_path, real_frames.shape[1:3], scoring.column)
    reason = shape_mismatch(gen_frames, real_frames)
    if reason is not None:
        return reason
    source = to_tensor(read_frames(sources[key], [0])) if key in sources else None
    if source is None and any(m.target == "source" for m in metrics.values()):
        return "no source image in --sources for a metric compared with the source"
    _update_all(metrics, key, gen_frames, real_frames, source, scoring.batch_size)
    return None


def read_generated(path: Path, frame_hw: tuple[int, int], column: int | None = None) -> np.ndarray:
    """A generated video as ``T x H x W x 3`` uint8, read as pose-evaluation's ``frames2array`` reads it
    (``extract.py --image_shape --column``), for the real video's frame size ``frame_hw`` = (H, W):

    * a ``.png``/``.jpg`` strip (FOMM's reconstruction and animation output, frames side by side) is split into
      W x H frames, as ``frames2array(path, True, (W, H))`` splits it;
    * frame folders, gifs and movies are read frame by frame;
    * with ``column``, every frame is cut to the ``column``-th image of width W side by side (outputs that show
      e.g. source | driving | prediction): ``video[:, :, W * column : W * (column + 1)]``, frames2array's last
      step. Without it, frames wider than the real ones are kept (and the pair is reported as mismatched).

    For square frames (every published dataset) this is exactly ``frames2array(path, True, (S, S), column)``.
    For non-square frames pose-evaluation has no consistent ``image_shape``: a strip splits right only with
    (W, H), whose last step then cuts every frame to width H; here frames keep their whole width W.
    """
    if path.is_file() and path.suffix in (".png", ".jpg"):
        import imageio.v2 as imageio

        height, width = frame_hw
        try:
            video = split_strip(imageio.imread(path), (width, height))
        except (ValueError, OSError) as exc:  # not an image, or its width is not a multiple of the frames'
            raise DataError(f"cannot split image strip {path} into {width}x{height} frames: {exc}") from None
    else:
        video = read_video(path)
    if column is None:
        return video
    width = frame_hw[1]
    return video[:, :, width * column:width * (column + 1)]


def _pair_problem(key: str, real: dict[str, Path], sources: dict[str, Path]) -> str | None:
    if key not in real:
        return "no real video of this name"
    if key in sources and not sources[key].exists():
        return f"source image not found: {sources[key]}"
    return None


def shape_mismatch(generated: np.ndarray, real: np.ndarray) -> str | None:
    """Why two ``T x H x W x 3`` videos cannot be compared frame by frame (None if they can)."""
    if generated.shape == real.shape:
        return None
    return (f"generated has {generated.shape[0]} frames of {generated.shape[2]}x{generated.shape[1]}, "
            f"real has {real.shape[0]} frames of {real.shape[2]}x{real.shape[1]}")


def _update_all(metrics: dict[str, Metric], video: str, generated: np.ndarray, real: np.ndarray,
                source: torch.Tensor | None, batch_size: int) -> None:
    for start in range(0, len(generated), batch_size):
        gen = to_tensor(generated[start:start + batch_size])
        ref = to_tensor(real[start:start + batch_size])
        for metric in metrics.values():
            target = source.expand(len(gen), -1, -1, -1) if metric.target == "source" else ref
            metric.update(gen.to(metric.device), target.to(metric.device), video=video)


def parse_metric_names(text: str, known: Sequence[str]) -> list[str]:
    """``'l1,psnr'`` -> ``['l1', 'psnr']``, rejecting unknown and repeated names."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"unknown metric '{unknown[0]}'; choose from: {', '.join(known)}")
    if len(set(names)) != len(names) or not names:
        raise UserError(f"--metrics needs distinct metric names, got '{text}'")
    return names
