"""Batched SSIM and MS-SSIM in torch.

SSIM uses an 11-tap Gaussian window (sigma 1.5) applied as a separable 'valid' filter,
constants K1 = 0.01, K2 = 0.03 and data range 1, in float64, averaged over the map and the RGB channels:
the definition of Wang et al. (2004) as computed by scikit-image (``gaussian_weights=True,
use_sample_covariance=False``) and pytorch_msssim. MS-SSIM (Wang et al. 2003) uses 5 scales
with the standard weights, 2x2 average-pool downsampling and the contrast-structure term at the
first four scales; at 5 scales the smallest side must exceed (11 - 1) * 2**4 = 160 pixels, so
smaller frames are reported as not applicable rather than scored with fewer scales.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.metrics.base import MetricInfo, TaskUse
from bench.metrics.frame_average import FrameAverageMetric

WINDOW_SIZE = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_MIN_SIDE = (WINDOW_SIZE - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1)


def gaussian_window(size: int = WINDOW_SIZE, sigma: float = SIGMA, device: torch.device | None = None,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    window = torch.exp(-(coords**2) / (2.0 * sigma**2))
    return (window / window.sum()).to(device=device, dtype=dtype)


def valid_filter_matrix(window: torch.Tensor, n: int) -> torch.Tensor:
    """``n x (n - taps + 1)`` banded matrix whose right-product is a 'valid' 1-D filtering."""
    taps = window.numel()
    m = n - taps + 1
    matrix = torch.zeros(n, m, dtype=window.dtype, device=window.device)
    columns = torch.arange(m, device=window.device)
    for i in range(taps):
        matrix[columns + i, columns] = window[i]
    return matrix


class Blur:
    """Separable 'valid' Gaussian filtering of ``... x H x W`` planes as two products with banded
    matrices (``rows_t @ x @ cols``): BLAS makes this several times faster on CPU than a depthwise
    convolution, no transposed copies are made, and in float64 it is exact on GPUs too (no TF32)."""

    def __init__(self, window: torch.Tensor, height: int, width: int) -> None:
        self.rows_t = valid_filter_matrix(window, height).T.contiguous()
        self.cols = valid_filter_matrix(window, width)

    def __call__(self, maps: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.rows_t, maps @ self.cols)


def ssim_and_cs(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor, data_range: float = 1.0
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and mean contrast-structure term, each ``B x C`` (each map filtered on its own: no
    stacked copy of the five)."""
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    blur = Blur(window, *x.shape[-2:])
    mu_x, mu_y = blur(x), blur(y)
    mu_xy = mu_x * mu_y
    mu_x2, mu_y2 = mu_x.square_(), mu_y.square_()  # in place from here on: fewer large temporaries
    cs_map = blur(x * y).sub_(mu_xy).mul_(2).add_(c2).div_(
        blur(x * x).sub_(mu_x2).add_(blur(y * y)).sub_(mu_y2).add_(c2))
    cs_mean = cs_map.flatten(2).mean(-1)
    ssim_map = mu_xy.mul_(2).add_(c1).div_(mu_x2.add_(mu_y2).add_(c1)).mul_(cs_map)
    return ssim_map.flatten(2).mean(-1), cs_mean


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """SSIM per image (``B``, float64), averaged over channels, for ``B x C x H x W`` inputs."""
    x, y = x.double(), y.double()
    window = gaussian_window(device=x.device, dtype=x.dtype)
    return ssim_and_cs(x, y, window, data_range)[0].mean(dim=1)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0,
            weights: tuple[float, ...] = MS_SSIM_WEIGHTS) -> torch.Tensor:
    """MS-SSIM per image (``B``, float64); the smaller side must exceed ``(11 - 1) * 2**(scales - 1)``."""
    min_side = (WINDOW_SIZE - 1) * 2 ** (len(weights) - 1)
    if min(x.shape[-2:]) <= min_side:
        raise ValueError(f"MS-SSIM with {len(weights)} scales needs frames larger than {min_side} px, "
                         f"got {tuple(x.shape[-2:])}")
    x, y = x.double(), y.double()
    window = gaussian_window(device=x.device, dtype=x.dtype)
    factors = []
    for scale in range(len(weights)):
        s, cs = ssim_and_cs(x, y, window, data_range)
        if scale == len(weights) - 1:
            factors.append(s.relu())
        else:
            factors.append(cs.relu())
            padding = [side % 2 for side in x.shape[-2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=padding)
            y = F.avg_pool2d(y, kernel_size=2, padding=padding)
    w = torch.tensor(weights, device=x.device, dtype=x.dtype).view(-1, 1, 1)
    return torch.prod(torch.stack(factors) ** w, dim=0).mean(dim=1)


class SSIM(FrameAverageMetric):
    """Structural similarity, Gaussian window 11 / sigma 1.5 (higher is better)."""

    info = MetricInfo(
        "ssim", "SSIM", higher_is_better=True, decimals=2, tasks={"reconstruction": TaskUse("driving")},
        reference="scikit-image structural_similarity (gaussian_weights=True, sigma 1.5, "
                  "use_sample_covariance=False, data_range=1), mean over the RGB channels")

    def frame_scores(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return ssim(generated, real)


class MSSSIM(FrameAverageMetric):
    """Multi-scale SSIM, 5 scales with the standard weights (higher is better)."""

    info = MetricInfo(
        "ms_ssim", "MS-SSIM", higher_is_better=True, decimals=2, tasks={"reconstruction": TaskUse("driving")},
        reference="pytorch_msssim ms_ssim (VainF/pytorch-msssim): 5 scales, weights "
                  "(0.0448, 0.2856, 0.3001, 0.2363, 0.1333), Gaussian window 11 / sigma 1.5, data_range=1")

    def not_applicable(self, generated: torch.Tensor) -> str | None:
        if min(generated.shape[-2:]) <= MS_SSIM_MIN_SIDE:
            return (f"MS-SSIM with 5 scales needs frames larger than {MS_SSIM_MIN_SIDE} px; "
                    f"frames are {generated.shape[-2]}x{generated.shape[-1]}")
        return None

    def frame_scores(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return ms_ssim(generated, real)
