"""The on-disk result format shared by ``bench evaluate`` and ``bench run``.

``per_video.csv``: one row per video (column ``video``), one column per metric (empty where
a metric has no value for that video) and, for each frame-wise metric, ``<metric>_frames``: the
video's number of scored frames, so that a pooled mean (and its interval) follows from the file
(sum of value x frames over sum of frames). ``summary.json``::

    {"means": {metric: dataset value or null},      # by the convention below (FID: one distance)
     "ci": {metric: [low, high]},                    # the interval of each mean (extras: <metric>_<extra>)
     "ci_method": {"method": ..., "level": 0.95, "resamples": B, "distribution_resamples": B,
                   "seed": s, "unit": "video (cluster bootstrap)", "definition": ...},
     "na_reasons": {metric: why it is null},
     "counts": {"videos": n, "per_metric": {metric: videos scored}, "skipped": n},
     "extra": {metric: {name: number}},             # e.g. AKD missed_rate
     "skipped": {video: reason},
     "convention": {"name": ..., "definition": ...},  # how frame-wise values were averaged
     "run": {...}}                                   # bench run: settings, method config and hashes,
                                                    # task, metrics, package versions, git revision
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Mapping

from bench.files import atomic_write, atomic_write_text, ensure_folder
from bench.metrics.aggregation import CONVENTIONS, DEFAULT_CONVENTION, MetricResult
from bench.metrics.bootstrap import IntervalSpec

PER_VIDEO = "per_video.csv"
SUMMARY = "summary.json"


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def intervals(results: Mapping[str, MetricResult]) -> dict[str, list[float]]:
    """``{metric: [low, high]}`` of every result with an interval, extras as ``<metric>_<extra>``."""
    out = {name: [r.ci[0], r.ci[1]] for name, r in results.items() if r.ci is not None and r.available}
    for name, result in results.items():
        out.update({f"{name}_{key}": [low, high] for key, (low, high) in result.extra_ci.items()})
    return out


def summary_dict(results: Mapping[str, MetricResult], skipped: Mapping[str, str] | None = None,
                 run: Mapping[str, Any] | None = None, convention: str = DEFAULT_CONVENTION,
                 spec: IntervalSpec | None = None) -> dict[str, Any]:
    """The summary.json content for ``results`` (keyed by metric name) and the ``run`` record."""
    skipped = dict(skipped or {})
    videos = sorted({v for r in results.values() for v in r.per_video})
    out = {
        "means": {name: _number(r.value) for name, r in results.items()},
        "ci": intervals(results),
        "ci_method": spec.record() if spec is not None else None,
        "na_reasons": {name: r.na_reason for name, r in results.items() if r.na_reason},
        "counts": {"videos": len(videos), "per_metric": {name: len(r.per_video) for name, r in results.items()},
                   "skipped": len(skipped)},
        "extra": {name: {k: _number(v) for k, v in r.extra.items()} for name, r in results.items() if r.extra},
        "skipped": skipped,
        "convention": {"name": convention, "definition": CONVENTIONS[convention]},
    }
    if run is not None:
        out["run"] = dict(run)
    return out


def per_video_columns(results: Mapping[str, MetricResult]) -> dict[str, dict[str, float | int]]:
    """The columns of ``per_video.csv``: each metric's per-video value, then its scored frames (frame-wise ones)."""
    columns: dict[str, dict[str, float | int]] = {}
    for name, result in results.items():
        columns[name] = dict(result.per_video)
        if result.frames:
            columns[f"{name}_frames"] = dict(result.frames)
    return columns


def write_results(out_dir: str | Path, results: Mapping[str, MetricResult], skipped: Mapping[str, str] | None = None,
                  run: Mapping[str, Any] | None = None, convention: str = DEFAULT_CONVENTION,
                  intervals: IntervalSpec | None = None) -> tuple[Path, Path]:
    """Write ``per_video.csv`` and ``summary.json`` into ``out_dir`` (atomically); returns both paths."""
    out = ensure_folder(out_dir)
    columns = per_video_columns(results)
    videos = sorted({v for r in results.values() for v in r.per_video})

    def write_csv(tmp: Path) -> None:
        with tmp.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["video", *columns])
            for video in videos:
                row = [column.get(video) for column in columns.values()]
                writer.writerow([video, *("" if x is None else repr(x) for x in row)])

    csv_path = atomic_write(out / PER_VIDEO, write_csv)
    summary = json.dumps(summary_dict(results, skipped, run, convention, intervals), indent=2, sort_keys=False,
                         default=str)
    return csv_path, atomic_write_text(out / SUMMARY, summary + "\n")


def read_per_video(path: str | Path) -> dict[str, dict[str, float | None]]:
    """``per_video.csv`` back as ``{metric: {video: value}}`` (None for empty cells)."""
    table: dict[str, dict[str, float | None]] = {}
    with Path(path).open(newline="") as handle:
        for row in csv.DictReader(handle):
            video = row.pop("video")
            for metric, cell in row.items():
                table.setdefault(metric, {})[video] = float(cell) if cell else None
    return table
