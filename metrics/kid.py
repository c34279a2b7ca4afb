"""KID (Binkowski et al. 2018): Kernel Inception Distance on the FID's Inception features.

The features are FID's (:mod:`bench.metrics.fid`: pytorch-fid's InceptionV3 pool3, 2048-d, in the
``inception`` or ``inception-clean`` resize convention, sharing FID's network and extractor). KID
is the unbiased estimate of the squared MMD between generated and real features under the cubic
polynomial kernel ``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets, as torch-fidelity
(toshas/torch-fidelity ``metric_kid.py``: ``kid_features_to_metric``, ``mmd2(..., 'unbiased')``,
``kernel_poly`` with gamma ``1/d``, coef0 1, degree 3) and clean-fid (``fid.py`` ``kernel_distance``)
compute it:

- 100 subsets; each draws ``m`` generated rows, then ``m`` real rows, without replacement, from
  ``np.random.RandomState(seed)`` (torch-fidelity's seeded draw, ``rng_seed`` 2020; generated set
  first as torch-fidelity's ``input1`` and clean-fid's ``x``);
- ``m = min(1000, #generated, #real)`` (clean-fid's ``max_subset_size`` rule; torch-fidelity asks for
  at least 1000 rows and draws 1000, the same number whenever both sets have 1000 rows);
- the value is the mean over subsets; the standard deviation over subsets (``np.std``,
  torch-fidelity's ``kernel_inception_distance_std``) is in ``extra['std']``.

The sums are computed in float64 (torch-fidelity and clean-fid compute in the features' float32).
The real set is the FID's: every driving frame (reconstruction), each distinct source image once
(animation); KID is one value over all frames pooled (per_video is empty). A cached real set
(``reference``) is the real feature rows themselves.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.metrics.aggregation import Measurement
from bench.metrics.base import MetricInfo, TaskUse
from bench.metrics.fid import INCEPTION_BACKENDS, InceptionDistribution

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_SEED = 2020  # torch-fidelity's default rng_seed


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(x y^T / d + 1)^3`` for row sets ``x``, ``y`` of dimension ``d``."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 of two equal-size samples under :func:`polynomial_kernel`: the mean of ``k(x_i, x_j)`` and
    of ``k(y_i, y_j)`` over ``i != j``, minus twice the mean of ``k(x_i, y_j)`` over all ``i, j``."""
    m = x.shape[0]
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(generated: np.ndarray, real: np.ndarray, subsets: int = KID_SUBSETS,
                              subset_size: int = KID_SUBSET_SIZE, seed: int = KID_SEED,
                              device: torch.device | str = "cpu") -> tuple[float, float, int]:
    """(mean, std over subsets, subset size) of the unbiased MMD^2 over ``subsets`` random subsets."""
    m = min(subset_size, len(generated), len(real))
    if m < 2:
        raise ValueError("KID needs at least 2 generated and 2 real feature rows")
    gen = torch.as_tensor(np.asarray(generated), dtype=torch.float64, device=device)
    ref = torch.as_tensor(np.asarray(real), dtype=torch.float64, device=device)
    rng = np.random.RandomState(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        pick_gen = rng.choice(len(gen), m, replace=False)
        pick_real = rng.choice(len(ref), m, replace=False)
        values[i] = mmd2_unbiased(gen[torch.as_tensor(pick_gen, device=gen.device)],
                                  ref[torch.as_tensor(pick_real, device=ref.device)])
    return float(values.mean()), float(values.std()), m


class KID(InceptionDistribution):
    """Kernel Inception Distance between generated and real frames, all videos pooled (lower is better).

    ``reference`` (real feature rows) fixes the real set; ``features`` / ``backend`` as FID's;
    ``subsets``, ``subset_size`` and ``seed`` set the subset draw (defaults: torch-fidelity's).
    """

    info = MetricInfo(
        "kid", "KID", higher_is_better=False, decimals=4, distribution=True,
        tasks={"reconstruction": TaskUse("driving", default=False), "animation": TaskUse("source", default=False)},
        backends=INCEPTION_BACKENDS,
        reference="torch-fidelity / clean-fid KID: unbiased MMD^2 with the kernel (x.y/d + 1)^3 on the FID's 2048-d "
                  "Inception features, mean over 100 subsets of min(1000, #generated, #real) rows drawn without "
                  "replacement (RandomState(2020), generated first); std over subsets in extra; real set as FID's")
    cache_name = "kid"

    def __init__(self, device: torch.device | str = "cpu", target: str = "driving",
                 pretrained: bool = True, weights_dir: str | Path | None = None, allow_download: bool = False,
                 reference: np.ndarray | None = None, features: torch.nn.Module | None = None,
                 backend: str = "inception", subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
                 seed: int = KID_SEED) -> None:
        super().__init__(device, target, pretrained, weights_dir, allow_download, reference, features,
                         backend)
        self.subsets, self.subset_size, self.seed = subsets, subset_size, seed

    def real_reference(self) -> np.ndarray | None:
        """The real feature rows (to store in a cache); None with fewer than 2 rows."""
        if self.reference is not None:
            return self.reference
        rows = self.real_features()
        return rows if len(rows) >= 2 else None

    def compute(self) -> Measurement:
        """KID of all generated frames; a bootstrap resample of the videos repeats each drawn video's frames as
        often as it was drawn, against the same real rows (the fixed reference), with the same subset draw."""
        generated = self._stack(self.generated)
        real = self.real_reference()
        real_count = 0 if real is None else len(real)
        extra = {"generated_frames": float(len(generated)), "real_frames": float(real_count),
                 "subsets": float(self.subsets), "seed": float(self.seed)}
        if len(generated) < 2 or real is None:
            return Measurement(self.name, na_reason="KID needs at least 2 generated and 2 real frames", extra=extra)
        mean, std, m = kernel_inception_distance(generated, real, self.subsets, self.subset_size, self.seed,
                                                 self.device)
        videos, owner = self.generated_owners()

        def distance(counts: np.ndarray | None) -> float | None:
            if counts is None:
                return mean
            rows = np.repeat(generated, np.asarray(counts)[owner], axis=0)
            if len(rows) < 2:
                return None
            return kernel_inception_distance(rows, real, self.subsets, self.subset_size, self.seed, self.device)[0]
        return Measurement(self.name, videos=videos, distance=distance,
                           extra={**extra, "std": std, "subset_size": float(m)})
