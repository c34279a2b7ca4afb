"""Cluster-bootstrap intervals: against scipy.stats.bootstrap (video mean), an independent NumPy cluster
bootstrap (frames pooled), and the Frechet distance of materialised resamples (FID / FVD)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bench.metrics.aggregation import Measurement, VideoSums, aggregate
from bench.metrics.bootstrap import IntervalSpec, interval, resample_counts
from bench.metrics.frechet import FrechetStats, ResampledFrechet, frechet_distance


def _videos(seed: int = 3, n: int = 12) -> VideoSums:
    """Per-video sums of frame scores for videos of unequal length (so the conventions differ)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(5, 60, n)
    totals = np.array([rng.gamma(2.0, 0.02, c).sum() for c in counts])
    return VideoSums(tuple(f"v{i:02d}" for i in range(n)), totals, counts)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_video_mean_interval_equals_scipy_bootstrap(method):
    sums = _videos()
    spec = IntervalSpec(method=method, resamples=2000, seed=7)
    ours = interval(sums.statistic("video-mean"), len(sums.videos), spec)
    means = sums.totals / sums.counts
    theirs = stats.bootstrap((means,), np.mean, n_resamples=2000, method="BCa" if method == "bca" else method,
                             confidence_level=0.95, rng=np.random.default_rng(7), vectorized=True)
    assert ours == pytest.approx(tuple(theirs.confidence_interval), rel=1e-12)


def test_pooled_interval_equals_an_independent_cluster_bootstrap():
    """Frames pooled: each resample's value is the sum of the drawn videos' frame scores over their frames."""
    sums = _videos(seed=5)
    n, resamples, seed = len(sums.videos), 1500, 11
    picks = np.random.default_rng(seed).integers(0, n, (resamples, n))  # the documented draw
    values = [sums.totals[row].sum() / sums.counts[row].sum() for row in picks]
    expected = np.percentile(values, [2.5, 97.5])
    ours = interval(sums.statistic("fomm"), n, IntervalSpec(resamples=resamples, seed=seed))
    assert ours == pytest.approx(tuple(expected), rel=1e-12)


def test_conventions_give_their_own_values_and_intervals():
    sums = _videos()
    pooled, per_video = (aggregate(Measurement("l1", sums), c, IntervalSpec()) for c in ("fomm", "video-mean"))
    assert pooled.value == pytest.approx(sums.totals.sum() / sums.counts.sum(), rel=1e-14)
    assert per_video.value == pytest.approx(np.mean(sums.totals / sums.counts), rel=1e-14)
    for result in (pooled, per_video):
        low, high = result.ci
        assert low < result.value < high
    assert pooled.frames == {v: int(c) for v, c in zip(sums.videos, sums.counts)}


def test_interval_narrows_with_more_videos_and_is_a_point_for_identical_videos():
    wide = aggregate(Measurement("l1", _videos(n=8)), "fomm", IntervalSpec()).ci
    narrow = aggregate(Measurement("l1", _videos(n=200)), "fomm", IntervalSpec()).ci
    assert narrow[1] - narrow[0] < (wide[1] - wide[0]) / 2
    same = VideoSums(("a", "b", "c"), np.array([1.0, 2.0, 3.0]), np.array([10, 20, 30]))
    assert aggregate(Measurement("l1", same), "fomm", IntervalSpec()).ci == pytest.approx((0.1, 0.1))


def test_resample_counts_follow_the_draw():
    counts = resample_counts(5, 4, seed=2)
    picks = np.random.default_rng(2).integers(0, 5, (4, 5))
    assert (counts == np.stack([np.bincount(p, minlength=5) for p in picks])).all()
    assert (counts.sum(axis=1) == 5).all()


@pytest.mark.parametrize("rows_per_video,dim,ddof", [(3, 16, 1), (40, 6, 1), (1, 10, 0)])
def test_resampled_frechet_equals_the_distance_of_repeated_rows(rows_per_video, dim, ddof):
    """Both routes (fewer rows than dimensions: the m x m Gram matrix; more: the d x d covariance) equal
    frechet_distance of the rows repeated by their videos' multiplicities."""
    rng = np.random.default_rng(0)
    videos = 5
    rows = rng.normal(size=(videos * rows_per_video, dim))
    owner = np.repeat(np.arange(videos), rows_per_video)
    real = FrechetStats.from_features(rng.normal(0.3, 1.2, size=(50, dim)), ddof=ddof)
    resampled = ResampledFrechet(rows, owner, real, ddof)
    for counts in (np.array([1, 1, 1, 1, 1]), np.array([3, 0, 1, 0, 1]), np.array([0, 2, 0, 0, 3])):
        repeated = np.repeat(rows, counts[owner], axis=0)
        fake = FrechetStats.from_features(repeated, ddof=ddof)
        expected = frechet_distance(fake.mu, fake.sigma, real.mu, real.sigma)
        assert resampled(counts) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("higher", [True, False])
def test_probability_of_improvement_equals_rliable(higher):
    """rliable.metrics.probability_of_improvement with videos as runs (one task), in the metric's direction."""
    rliable = pytest.importorskip("rliable.metrics")
    from bench.reports.compare import PerVideo, probability_of_improvement

    rng = np.random.default_rng(4)
    a, b = rng.normal(0.10, 0.02, 15), rng.normal(0.11, 0.02, 15)
    a[3] = b[3]  # a tie counts one half
    videos = [f"v{i}" for i in range(15)]
    p, (low, high) = probability_of_improvement(PerVideo(dict(zip(videos, a))), PerVideo(dict(zip(videos, b))),
                                                higher, IntervalSpec(resamples=500))
    sign = 1.0 if higher else -1.0
    expected = rliable.probability_of_improvement(sign * a[:, None], sign * b[:, None])
    assert p == pytest.approx(expected, abs=1e-12) and low <= p <= high
