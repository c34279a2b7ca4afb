"""Cluster bootstrap over videos: confidence intervals of any statistic of per-video data.

The unit of sampling is the video (frames of one video are not independent), so a resample
draws ``n`` of the ``n`` videos with replacement and the statistic is recomputed exactly as its
convention defines it from the drawn videos (with their multiplicities). A resample is a row
of per-video counts (``B x n``), which frame-wise statistics turn into numbers with a matrix
product.

The draw and the interval follow ``scipy.stats.bootstrap`` (SciPy 1.11+): resample ``b`` takes
the videos ``numpy.random.default_rng(seed).integers(0, n, (B, n))[b]``; ``percentile`` is the
``level`` central range of the bootstrap values (linear interpolation, ``np.quantile``); ``bca``
is Efron's bias-corrected and accelerated interval (Efron & Tibshirani 1993, 14.3 and 15.4), the
acceleration from the leave-one-video-out jackknife. ``tests/test_bootstrap.py`` checks both
against ``scipy.stats.bootstrap`` for a video mean and against a separate NumPy cluster bootstrap
for frames pooled. Paired comparisons resample the same videos for both sides (the same rows).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, Callable

import numpy as np

from bench.errors import UserError

#: interval methods by name
METHODS = {
    "percentile": "the central range of the bootstrap distribution (rliable, lm-evaluation-harness)",
    "bca": "bias-corrected and accelerated (Efron 1987; scipy.stats.bootstrap's default)",
}

_NORMAL = NormalDist()


def ndtr(x: float) -> float:
    """The standard normal CDF (scipy.special.ndtr; math keeps scipy out of the start-up)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def ndtri(p: float) -> float:
    """Its inverse (scipy.special.ndtri), with the infinities at 0 and 1."""
    if p <= 0.0 or p >= 1.0:
        return -math.inf if p <= 0.0 else math.inf
    return _NORMAL.inv_cdf(p)


#: a statistic of B resamples, each given as per-video counts (B x n) -> B values (NaN where undefined)
Statistic = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class IntervalSpec:
    """How intervals are computed: method, confidence level, resample counts and the draw's seed.

    ``resamples`` applies to frame-wise metrics (cheap: a matrix product per resample);
    ``distribution_resamples`` to FID / KID / FVD, where each resample recomputes the distance
    from the features (lm-evaluation-harness likewise caps its corpus-level metrics at 100).
    """

    method: str = "percentile"
    level: float = 0.95
    resamples: int = 1000
    distribution_resamples: int = 100
    seed: int = 0

    def validate(self) -> IntervalSpec:
        if self.method not in METHODS:
            raise UserError(f"unknown interval method '{self.method}'; choose from: {', '.join(METHODS)}")
        if not 0.0 < self.level < 1.0:
            raise UserError(f"confidence level must be in (0, 1), got {self.level}")
        if self.resamples < 0 or self.distribution_resamples < 0:
            raise UserError("resample counts must be >= 0 (0: no interval)")
        return self

    def record(self) -> dict[str, Any]:
        """What summary.json and the MLflow params say about the intervals."""
        return {**asdict(self), "unit": "video (cluster bootstrap)", "definition": METHODS[self.method]}


def resample_counts(n: int, resamples: int, seed: int) -> np.ndarray:
    """``B x n`` multiplicities of the videos in each resample (scipy.stats.bootstrap's draw)."""
    picks = np.random.default_rng(seed).integers(0, n, (resamples, n))
    counts = np.zeros((resamples, n), dtype=np.int64)
    np.add.at(counts, (np.arange(resamples)[:, None], picks), 1)
    return counts


def jackknife_counts(n: int) -> np.ndarray:
    """``n x n`` multiplicities leaving out one video each."""
    return np.ones((n, n), dtype=np.int64) - np.eye(n, dtype=np.int64)


def _quantiles(values: np.ndarray, low: float, high: float) -> tuple[float, float]:
    lo, hi = np.quantile(values, [low, high], method="linear")
    return float(lo), float(hi)


def percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    return _quantiles(values, alpha, 1.0 - alpha)


def bca_interval(values: np.ndarray, estimate: float, jackknife: np.ndarray, level: float) -> tuple[float, float]:
    """Efron's BCa interval from the bootstrap values, the full-sample estimate and the jackknife values."""
    alpha = (1.0 - level) / 2.0
    below = (np.count_nonzero(values < estimate) + np.count_nonzero(values <= estimate)) / (2.0 * len(values))
    z0 = ndtri(below)
    spread = jackknife.mean() - jackknife
    denominator = 6.0 * float(np.sum(spread ** 2)) ** 1.5
    accel = float(np.sum(spread ** 3)) / denominator if denominator > 0 else 0.0
    ends = []
    for z in (ndtri(alpha), ndtri(1.0 - alpha)):
        ends.append(ndtr(z0 + (z0 + z) / (1.0 - accel * (z0 + z))))
    return _quantiles(values, *ends)


def interval(statistic: Statistic, n: int, spec: IntervalSpec, resamples: int | None = None) -> tuple[float, float] | None:
    """The ``spec.level`` interval of ``statistic`` over ``n`` videos (None: no videos, or no resamples).

    Resamples where the statistic is undefined (NaN: e.g. no scored frame among the drawn videos)
    are left out. A statistic constant over the resamples has the interval [value, value].
    """
    count = spec.resamples if resamples is None else resamples
    if n < 1 or count < 1:
        return None
    values = np.asarray(statistic(resample_counts(n, count, spec.seed)), dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    if spec.method == "percentile":
        return percentile_interval(values, spec.level)
    estimate = float(statistic(np.ones((1, n), dtype=np.int64))[0])
    jackknife = np.asarray(statistic(jackknife_counts(n)), dtype=np.float64) if n > 1 else np.zeros(1)
    return bca_interval(values, estimate, jackknife[np.isfinite(jackknife)], spec.level)


def looped(value: Callable[[np.ndarray], float | None]) -> Statistic:
    """A :data:`Statistic` from a function of one row of counts (for statistics that cannot be vectorised:
    FID, KID, FVD)."""
    def statistic(counts: np.ndarray) -> np.ndarray:
        out = np.empty(len(counts))
        for i, row in enumerate(counts):
            result = value(row)
            out[i] = np.nan if result is None else result
        return out
    return statistic
