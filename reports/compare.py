"""Paired comparisons of two runs evaluated on the same videos: the change and the probability of improvement.

Both come from a paired cluster bootstrap: each resample draws videos with replacement and both
runs are scored on the same draw (:mod:`bench.metrics.bootstrap`), so the interval of the
difference accounts for the per-video correlation of the two runs. The statistic is the dataset
value under the runs' convention, recomputed from ``per_video.csv`` (each video's value and its
scored frames: frames pooled is the sum of value x frames over the frames).

The probability of improvement is rliable's (Agarwal et al. 2021, ``rliable.metrics.
probability_of_improvement``): P(X > Y) = (1 / (n m)) sum_i sum_j S(x_i, y_j) with S = 1 when x_i is
better, 1/2 on a tie, 0 otherwise (the Mann-Whitney U statistic over n m), here with the videos'
scores in place of runs' scores and "better" in the metric's direction.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from bench.metrics.aggregation import VideoSums
from bench.metrics.bootstrap import IntervalSpec, interval

Interval = tuple[float, float]


@dataclass(frozen=True)
class PerVideo:
    """One run's per-video values of one metric and, for frame-wise metrics, each video's scored frames."""

    values: Mapping[str, float]
    frames: Mapping[str, int] | None = None

    @classmethod
    def from_table(cls, table: pd.DataFrame | None, metric: str) -> PerVideo | None:
        """``metric``'s column of a ``per_video.csv`` table (None when the table has no values for it)."""
        if table is None or metric not in table.columns:
            return None
        key = "video" if "video" in table.columns else table.columns[0]
        rows = table[[key, metric] + ([f"{metric}_frames"] if f"{metric}_frames" in table.columns else [])]
        rows = rows.dropna(subset=[metric])
        if rows.empty:
            return None
        values = {str(v): float(x) for v, x in zip(rows[key], rows[metric])}
        frames = None
        if f"{metric}_frames" in rows.columns:
            frames = {str(v): int(f) for v, f in zip(rows[key], rows[f"{metric}_frames"])}
        return cls(values, frames)

    def sums(self, videos: tuple[str, ...]) -> VideoSums:
        """The videos' sums and counts (a video without frame counts counts once: its value is the sum)."""
        counts = np.array([self.frames[v] if self.frames else 1 for v in videos], dtype=np.int64)
        totals = np.array([self.values[v] for v in videos], dtype=np.float64) * counts
        return VideoSums(videos, totals, counts)


@dataclass(frozen=True)
class Change:
    """``current - baseline`` of the dataset value over the videos both scored, with its paired interval."""

    delta: float
    interval: Interval | None
    videos: int


def common_videos(a: PerVideo, b: PerVideo) -> tuple[str, ...]:
    return tuple(sorted(set(a.values) & set(b.values)))


def paired_change(baseline: PerVideo, current: PerVideo, convention: str, spec: IntervalSpec) -> Change | None:
    """The change of the dataset value from ``baseline`` to ``current`` on their common videos (None: none)."""
    videos = common_videos(baseline, current)
    if not videos:
        return None
    old, new = baseline.sums(videos), current.sums(videos)
    before, after = old.value(convention), new.value(convention)
    if before is None or after is None:
        return None
    old_stat, new_stat = old.statistic(convention), new.statistic(convention)
    found = interval(lambda counts: new_stat(counts) - old_stat(counts), len(videos), spec)
    return Change(after - before, found, len(videos))


def improvement_matrix(x: np.ndarray, y: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """S(x_i, y_j): 1 where x_i is better than y_j, 1/2 on a tie, 0 otherwise."""
    x, y = (x, y) if higher_is_better else (-x, -y)
    return (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])


def probability_of_improvement(a: PerVideo, b: PerVideo, higher_is_better: bool,
                               spec: IntervalSpec) -> tuple[float, Interval | None] | None:
    """rliable's P(a better than b) over the common videos, with its paired bootstrap interval."""
    videos = common_videos(a, b)
    if not videos:
        return None
    x = np.array([a.values[v] for v in videos])
    y = np.array([b.values[v] for v in videos])
    wins = improvement_matrix(x, y, higher_is_better)

    def statistic(counts: np.ndarray) -> np.ndarray:
        weights = counts.astype(np.float64)
        return np.einsum("bi,ij,bj->b", weights, wins, weights) / weights.sum(axis=1) ** 2
    return float(wins.mean()), interval(statistic, len(videos), spec)


def significantly_better(change: Change | None, higher_is_better: bool) -> bool:
    """Whether the interval of ``current - baseline`` lies wholly on the better side of zero."""
    if change is None or change.interval is None:
        return False
    low, high = change.interval
    return low > 0 if higher_is_better else high < 0


def intervals_disjoint(a: Interval | None, b: Interval | None) -> bool:
    """For runs without per-video values (FID, KID, FVD): do their own intervals not overlap?"""
    if a is None or b is None or any(not math.isfinite(v) for v in (*a, *b)):
        return False
    return a[1] < b[0] or b[1] < a[0]
