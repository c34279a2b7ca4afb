"""FID (Heusel et al. 2017) with pytorch-fid's InceptionV3 (2048-d pool3 features).

Frames go through pytorch-fid's ``InceptionV3`` (bilinear resize to 299, scaling to [-1, 1])
with the TF-ported FID weights ``pt_inception-2015-12-05-6726825d.pth`` from the torch hub
cache. The Frechet distance is computed here from the eigenvalues of
``sqrt(S1) S2 sqrt(S1)`` (symmetric, so no complex square roots). FID is a distribution
distance over all frames pooled, not a mean of per-video values: per_video is empty. In animation the
real set is each distinct source image once; a real set of one image (one pair, e.g. the per-item
score that picks the best reference view) is a point mass with zero covariance.
Real statistics can be given up front (e.g. from :class:`RealStatsCache`) so the real frames
need not pass through Inception again.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from bench.metrics import weights
from bench.metrics.base import Backend, Metric, MetricInfo, MetricResult, TaskUse
from bench.metrics.frame_average import check_pair

FEATURE_DIM = 2048


@dataclass
class FrechetStats:
    """Mean and covariance of a feature set (float64)."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int

    @classmethod
    def from_features(cls, features: np.ndarray) -> FrechetStats:
        """Sample mean and covariance; a single vector is a point mass (zero covariance)."""
        features = np.asarray(features, dtype=np.float64)
        if features.shape[0] < 1:
            raise ValueError("FID statistics need at least one feature vector")
        if features.shape[0] == 1:
            return cls(features[0], np.zeros((features.shape[1], features.shape[1])), 1)
        return cls(features.mean(axis=0), np.cov(features, rowvar=False), int(features.shape[0]))


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


def _fid_inception_architecture() -> torch.nn.Module:
    """torchvision's InceptionV3 with pytorch-fid's FID-specific blocks, randomly initialised."""
    from pytorch_fid import inception as fid_inception

    net = fid_inception._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = fid_inception.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = fid_inception.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = fid_inception.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = fid_inception.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = fid_inception.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = fid_inception.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = fid_inception.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = fid_inception.FIDInceptionE_1(1280)
    net.Mixed_7c = fid_inception.FIDInceptionE_2(2048)
    return net


def build_inception(pretrained: bool = True, weights_dir: str | Path | None = None,
                    allow_download: bool = False) -> torch.nn.Module:
    """pytorch-fid's ``InceptionV3`` returning the 2048-d pool3 block, weights from the resolved file."""
    from pytorch_fid import inception as fid_inception

    checkpoint = weights.resolve(weights.INCEPTION_FID, weights_dir, allow_download) if pretrained else None
    net = _fid_inception_architecture()
    if checkpoint is not None:
        net.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    else:  # He-initialised convolutions, so random features still depend on the input
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    # InceptionV3 builds its blocks from fid_inception_v3(); hand it the network built above
    with mock.patch.object(fid_inception, "fid_inception_v3", lambda: net):
        model = fid_inception.InceptionV3([fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]])
    return model.eval()


class InceptionFeatures(torch.nn.Module):
    """``B x 3 x H x W`` in [0, 1] -> ``B x 2048`` pool3 features."""

    def __init__(self, inception: torch.nn.Module) -> None:
        super().__init__()
        self.inception = inception

    @torch.no_grad()
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.inception(frames)[0].flatten(1)


class FID(Metric):
    """Frechet Inception Distance between generated and real frames, all videos pooled (lower is better).

    ``reference`` fixes the real statistics (real frames passed to ``update`` are then ignored);
    ``features`` replaces the Inception extractor (any ``B x 3 x H x W -> B x D`` module).
    """

    info = MetricInfo(
        "fid", "FID", higher_is_better=False, decimals=2, distribution=True,
        tasks={"reconstruction": TaskUse("driving"), "animation": TaskUse("source")},
        backends=(Backend("inception", weights=(weights.INCEPTION_FID,),
                          reference="pytorch-fid InceptionV3 (TF-ported FID weights), 2048-d pool3"),),
        reference="pytorch-fid (mseitzer/pytorch-fid): pool3 features of frames resized bilinearly to 299, "
                  "Frechet distance of the two Gaussians; one value over all generated frames pooled against the "
                  "driving frames (reconstruction) or the distinct source images, each once (animation)")

    def __init__(self, device: torch.device | str = "cpu", target: str = "driving", convention: str = "fomm",
                 pretrained: bool = True, weights_dir: str | Path | None = None, allow_download: bool = False,
                 reference: FrechetStats | None = None, features: torch.nn.Module | None = None) -> None:
        super().__init__(device, target, convention)
        if features is None:
            features = InceptionFeatures(build_inception(pretrained, weights_dir, allow_download))
        self.features = features.to(self.device).eval()
        self.reference = reference
        self.add_state("generated", "cat")
        self.add_state("real", "cat")

    @torch.no_grad()
    def _extract(self, frames: torch.Tensor) -> np.ndarray:
        return self.features(frames.to(self.device, torch.float32)).flatten(1).cpu().numpy().astype(np.float32)

    def update(self, generated: torch.Tensor, target: torch.Tensor | None, video: str = "") -> None:
        check_pair(generated, target)
        self.accumulate("generated", video, self._extract(generated))
        if self.reference is not None:
            return
        if target is None:
            raise ValueError("FID needs real frames when no reference statistics are given")
        if self.target == "source":  # the real set holds each source image once, not once per frame
            if video not in self.real:
                self.accumulate("real", video, self._extract(target[:1]))
        else:
            self.accumulate("real", video, self._extract(target))

    @staticmethod
    def _stack(per_video: dict[str, list[np.ndarray]]) -> np.ndarray:
        chunks = [chunk for video in sorted(per_video) for chunk in per_video[video]]
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)

    def real_features(self) -> np.ndarray:
        """The real feature rows; with the source image as target, each distinct source once (pairs that
        share a source video share its row)."""
        rows = self._stack(self.real)
        if self.target != "source" or len(rows) == 0:
            return rows
        _, first = np.unique(rows, axis=0, return_index=True)
        return rows[np.sort(first)]

    def real_stats(self) -> FrechetStats:
        """Statistics of the real frames seen so far (to store in a :class:`RealStatsCache`)."""
        return self.reference or FrechetStats.from_features(self.real_features())

    def compute(self) -> MetricResult:
        generated = self._stack(self.generated)
        real_count = self.reference.count if self.reference else len(self.real_features())
        extra = {"generated_frames": float(len(generated)), "real_frames": float(real_count)}
        needed = 1 if self.target == "source" else 2
        if len(generated) < 2 or real_count < needed:
            return MetricResult(self.name, None, na_reason=f"FID needs at least 2 generated and {needed} real "
                                                           f"frame{'s' if needed > 1 else ''}", extra=extra)
        fake = FrechetStats.from_features(generated)
        real = self.real_stats()
        return MetricResult(self.name, frechet_distance(fake.mu, fake.sigma, real.mu, real.sigma), extra=extra)


class RealStatsCache:
    """Real-data FID statistics on disk, one ``.npz`` per (dataset, split, resolution, frame selection)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def path(self, dataset: str, split: str, resolution: int | tuple[int, int], frames: str) -> Path:
        key = json.dumps([dataset, split, resolution, frames])
        digest = hashlib.sha1(key.encode()).hexdigest()[:12]
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{dataset}_{split}")
        return self.directory / f"fid-real-{safe}-{digest}.npz"

    def load(self, dataset: str, split: str, resolution: int | tuple[int, int], frames: str) -> FrechetStats | None:
        path = self.path(dataset, split, resolution, frames)
        if not path.is_file():
            return None
        with np.load(path) as data:
            return FrechetStats(data["mu"], data["sigma"], int(data["count"]))

    def save(self, stats: FrechetStats, dataset: str, split: str, resolution: int | tuple[int, int], frames: str) -> Path:
        path = self.path(dataset, split, resolution, frames)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, mu=stats.mu, sigma=stats.sigma, count=stats.count)
        tmp.replace(path)
        return path
