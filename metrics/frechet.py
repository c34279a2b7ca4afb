"""The Frechet distance of two Gaussians fitted to feature sets (FID, FVD), and its bootstrap.

``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))``, computed from the eigenvalues of the symmetric
PSD matrix ``sqrt(S1) S2 sqrt(S1)`` (pytorch-fid's ``calculate_frechet_distance`` takes
``scipy.linalg.sqrtm`` of ``S1 S2`` instead; both give the same trace up to rounding, this one has
no complex parts to drop).

:class:`ResampledFrechet` recomputes the distance for a bootstrap resample of the generated videos
(per-video multiplicities) against fixed real statistics, without materialising repeated rows:
with ``m`` generated rows and ``m <= d`` (fewer frames than feature dimensions) the trace term
comes from the ``m x m`` matrix ``Z S2 Z^T`` (``S1 = Z^T Z``), whose eigenvalues are the non-zero
eigenvalues of ``S1 S2``; otherwise from the weighted ``d x d`` covariance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FrechetStats:
    """Mean and covariance of a feature set (float64)."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int

    @classmethod
    def from_features(cls, features: np.ndarray, ddof: int = 1) -> FrechetStats:
        """Sample mean and covariance (``ddof=1``: ``np.cov``, as pytorch-fid and clean-fid; ``ddof=0``: the
        population covariance of StyleGAN's ``FeatureStats.get_mean_cov``); a single vector is a point mass."""
        features = np.asarray(features, dtype=np.float64)
        if features.shape[0] < 1:
            raise ValueError("FID statistics need at least one feature vector")
        if features.shape[0] == 1:
            return cls(features[0], np.zeros((features.shape[1], features.shape[1])), 1)
        return cls(features.mean(axis=0), np.cov(features, rowvar=False, ddof=ddof), int(features.shape[0]))


def _clip_noise(values: np.ndarray) -> np.ndarray:
    """Eigenvalues with rounding noise (below ``n * eps * max``, or negative) set to zero.

    FID on fewer frames than feature dimensions has rank-deficient covariances; the square
    roots of their noisy zero eigenvalues would otherwise add up to a visible bias.
    """
    tolerance = values.size * np.finfo(np.float64).eps * max(float(np.abs(values).max(initial=0.0)), 1e-300)
    return np.where(values > tolerance, values, 0.0)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(_clip_noise(values))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` for Gaussians (mu, S).

    ``Tr((S1 S2)^(1/2))`` equals the sum of square roots of the eigenvalues of the symmetric
    PSD matrix ``sqrt(S1) S2 sqrt(S1)``, which is how it is computed here.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    trace_sqrt = float(np.sqrt(_clip_noise(np.linalg.eigvalsh((middle + middle.T) / 2.0))).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


class ResampledFrechet:
    """Frechet distance of the generated rows, weighted by their videos' multiplicities, to fixed ``real``
    statistics. ``owner[i]`` is the video index of row ``i``; ``ddof`` the covariance's (1: ``np.cov``, FID;
    0: population, FVD). Calling it with ``counts`` (one per video) equals :func:`frechet_distance` on the
    rows repeated ``counts[owner]`` times, up to rounding."""

    def __init__(self, rows: np.ndarray, owner: np.ndarray, real: FrechetStats, ddof: int) -> None:
        self.rows = np.asarray(rows, dtype=np.float64)
        self.owner = np.asarray(owner)
        self.real = real
        self.ddof = ddof
        small = len(self.rows) <= self.rows.shape[1]
        self._gram = self.rows @ real.sigma @ self.rows.T if small else None  # X S2 X^T, once

    def __call__(self, counts: np.ndarray) -> float | None:
        weights = np.asarray(counts, dtype=np.float64)[self.owner]
        total = weights.sum()
        if total - self.ddof <= 0 or total < 2:
            return None
        mu = weights @ self.rows / total
        diff = mu - self.real.mu
        if self._gram is None:
            centered = self.rows - mu
            sigma = (centered * weights[:, None]).T @ centered / (total - self.ddof)
            return frechet_distance(mu, sigma, self.real.mu, self.real.sigma)
        keep = weights > 0
        gram, w = self._gram[np.ix_(keep, keep)], weights[keep]
        cross = self._gram[keep] @ weights / total  # X S2 mu, for the kept rows
        middle = gram - cross[:, None] - cross[None, :] + float(weights @ self._gram @ weights) / total ** 2
        root = np.sqrt(w / (total - self.ddof))
        middle = root[:, None] * middle * root[None, :]  # Z S2 Z^T
        trace_sqrt = float(np.sqrt(_clip_noise(np.linalg.eigvalsh((middle + middle.T) / 2.0))).sum())
        centered = self.rows[keep] - mu
        trace1 = float(w @ np.einsum("ij,ij->i", centered, centered)) / (total - self.ddof)
        return float(diff @ diff + trace1 + np.trace(self.real.sigma) - 2.0 * trace_sqrt)
