"""From what a metric measured per video to the dataset's numbers: value, per-video values, interval.

Metrics only measure (``Metric.compute`` returns a :class:`Measurement`); how per-video
measurements become one dataset number is decided here, once, by the run's convention
(lm-evaluation-harness keeps ``aggregate`` apart from ``compute`` in the same way):

* frame-wise metrics (L1, PSNR, SSIM, MS-SSIM, LPIPS, AKD/MKR, CSIM, AED) measure per-video sums
  and counts of frame scores (:class:`VideoSums`). ``fomm`` pools every scored frame of every
  video (FOMM's ``reconstruction.py`` ``np.mean`` over frames, pose-evaluation's ``cmp*.py``
  ``np.mean`` over rows: the published tables); ``video-mean`` averages the per-video means;
* distribution metrics (FID, KID, FVD) measure one distance between feature sets; their
  :attr:`Measurement.distance` recomputes it from any multiset of the videos.

Every value gets a confidence interval from a cluster bootstrap over videos
(:mod:`bench.metrics.bootstrap`) that recomputes the statistic as its convention defines it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from bench.metrics.bootstrap import IntervalSpec, Statistic, interval, looped

#: how a frame-wise metric's per-frame scores become one dataset value
CONVENTIONS = {
    "fomm": "mean over every scored frame of every video pooled (FOMM's reconstruction.py and "
            "pose-evaluation's cmp*.py; the convention behind the published tables)",
    "video-mean": "mean over videos of each video's mean over its scored frames",
}
DEFAULT_CONVENTION = "fomm"

Interval = tuple[float, float]


@dataclass(frozen=True)
class VideoSums:
    """Per-video sums and counts of one frame-wise score, videos in name order."""

    videos: tuple[str, ...]
    totals: np.ndarray  # float64 sums of the scored frames' scores
    counts: np.ndarray  # int64 numbers of scored frames

    @classmethod
    def from_states(cls, totals: Mapping[str, float], counts: Mapping[str, int]) -> VideoSums:
        videos = tuple(sorted(totals))
        return cls(videos, np.array([float(totals[v]) for v in videos], dtype=np.float64),
                   np.array([int(counts.get(v, 0)) for v in videos], dtype=np.int64))

    def per_video(self) -> dict[str, float]:
        """Each video's mean over its scored frames (videos with none left out)."""
        return {v: float(t) / int(c) for v, t, c in zip(self.videos, self.totals, self.counts) if c > 0}

    def frames(self) -> dict[str, int]:
        """Each video's number of scored frames (videos with none left out)."""
        return {v: int(c) for v, c in zip(self.videos, self.counts) if c > 0}

    def value(self, convention: str) -> float | None:
        """The dataset value: frames pooled (an exactly rounded sum, independent of merge order) or the mean of
        the per-video means."""
        if convention == "video-mean":
            means = list(self.per_video().values())
            return float(np.mean(means)) if means else None
        frames = int(self.counts.sum())
        return math.fsum(self.totals.tolist()) / frames if frames else None

    def statistic(self, convention: str) -> Statistic:
        """The dataset value of each resample (``B x n`` video multiplicities) under ``convention``."""
        scored = self.counts > 0
        if convention == "video-mean":
            means = self.totals[scored] / self.counts[scored]

            def video_mean(counts: np.ndarray) -> np.ndarray:
                weights = counts[:, scored].astype(np.float64)
                drawn = weights.sum(axis=1)
                return np.where(drawn > 0, weights @ means / np.maximum(drawn, 1.0), np.nan)
            return video_mean

        def pooled(counts: np.ndarray) -> np.ndarray:
            weights = counts.astype(np.float64)
            frames = weights @ self.counts
            return np.where(frames > 0, weights @ self.totals / np.maximum(frames, 1.0), np.nan)
        return pooled


@dataclass
class Measurement:
    """What a metric measured, before aggregation.

    Frame-wise metrics give ``sums`` (and ``extra_sums`` for secondary pooled scores, e.g. AKD's
    ``mkr``); distribution metrics give ``videos`` and ``distance``, the value for per-video
    multiplicities (``None``: every video once). ``na_reason`` marks a metric that could not be
    computed; ``empty_reason`` says why when no frame was scored.
    """

    name: str
    sums: VideoSums | None = None
    extra_sums: dict[str, VideoSums] = field(default_factory=dict)
    videos: tuple[str, ...] = ()
    distance: Callable[[np.ndarray | None], float | None] | None = None
    extra: dict[str, float] = field(default_factory=dict)
    na_reason: str | None = None
    empty_reason: str = "no frames were scored"

    def value(self, convention: str = DEFAULT_CONVENTION) -> float | None:
        """The dataset value under ``convention`` (no interval)."""
        if self.na_reason is not None:
            return None
        if self.sums is not None:
            return self.sums.value(convention)
        return self.distance(None) if self.distance is not None else None


@dataclass
class MetricResult:
    """Dataset value, per-video values and scored frames, interval; ``value`` is None with ``na_reason``
    when not applicable. ``ci``: the interval of ``value``; ``extra_ci``: of extras (e.g. ``mkr``)."""

    name: str
    value: float | None
    per_video: dict[str, float] = field(default_factory=dict)
    na_reason: str | None = None
    extra: dict[str, float] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)
    ci: Interval | None = None
    extra_ci: dict[str, Interval] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.value is not None and math.isfinite(self.value)


def _std(per_video: Mapping[str, float]) -> dict[str, float]:
    values = [v for v in per_video.values() if math.isfinite(v)]
    return {"std": float(np.std(values))} if len(values) >= 2 else {}


def aggregate(measurement: Measurement, convention: str = DEFAULT_CONVENTION, spec: IntervalSpec | None = None,
              name: str | None = None) -> MetricResult:
    """``measurement`` as the run's numbers under ``convention``, with ``spec``'s intervals (none without
    ``spec``); ``name`` renames the result (``<metric>_best``)."""
    name = name or measurement.name
    if measurement.na_reason is not None:
        return MetricResult(name, None, na_reason=measurement.na_reason, extra=dict(measurement.extra))
    if measurement.sums is None:
        return _distribution(measurement, spec, name)
    sums = measurement.sums
    value = sums.value(convention)
    extra = dict(measurement.extra)
    extra_ci: dict[str, Interval] = {}
    for key, other in measurement.extra_sums.items():
        extra_value = other.value(convention)
        extra[key] = float("nan") if extra_value is None else extra_value
        found = _interval(other, convention, spec) if extra_value is not None else None
        if found is not None:
            extra_ci[key] = found
    if value is None:
        return MetricResult(name, None, na_reason=measurement.empty_reason, extra=extra)
    per_video = sums.per_video()
    return MetricResult(name, value, per_video, None, {**extra, **_std(per_video)}, sums.frames(),
                        _interval(sums, convention, spec), extra_ci)


def _interval(sums: VideoSums, convention: str, spec: IntervalSpec | None) -> Interval | None:
    return interval(sums.statistic(convention), len(sums.videos), spec) if spec is not None else None


def _distribution(measurement: Measurement, spec: IntervalSpec | None, name: str) -> MetricResult:
    distance = measurement.distance
    value = distance(None) if distance is not None else None
    if value is None or distance is None:
        return MetricResult(name, None, na_reason=measurement.empty_reason, extra=dict(measurement.extra))
    ci = None
    if spec is not None:
        ci = interval(looped(distance), len(measurement.videos), spec, spec.distribution_resamples)
    return MetricResult(name, value, extra=dict(measurement.extra), ci=ci)
