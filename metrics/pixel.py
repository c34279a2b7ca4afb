"""Pixel metrics: L1 (mean absolute difference) and PSNR (per frame, data range 1)."""
from __future__ import annotations

import torch

from bench.metrics.base import MetricInfo, TaskUse
from bench.metrics.frame_average import FrameAverageMetric


def l1_per_frame(generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference over pixels and channels, one value per frame."""
    return (generated - real).abs().flatten(1).mean(dim=1)


def psnr_per_frame(generated: torch.Tensor, real: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """``10 log10(range^2 / MSE)`` per frame, in float64; ``inf`` for a frame identical to its target
    (scikit-image's ``peak_signal_noise_ratio`` does the same; such frames are left unscored)."""
    mse = (generated.double() - real.double()).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(data_range**2 / mse)


class L1(FrameAverageMetric):
    """Average L1 distance between generated and real frames (lower is better)."""

    info = MetricInfo(
        "l1", "L1", higher_is_better=False, decimals=3, tasks={"reconstruction": TaskUse("driving")},
        reference="FOMM reconstruction.py (AliaksandrSiarohin/first-order-model): mean |generated - driving| "
                  "over pixels and channels of frames in [0, 1]")

    def frame_scores(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return l1_per_frame(generated, real)


class PSNR(FrameAverageMetric):
    """Peak signal-to-noise ratio in dB, computed per frame and averaged (higher is better)."""

    info = MetricInfo(
        "psnr", "PSNR", higher_is_better=True, unit="dB", decimals=2, tasks={"reconstruction": TaskUse("driving")},
        reference="10 log10(1 / MSE) per frame of frames in [0, 1] (scikit-image peak_signal_noise_ratio, "
                  "data_range=1); a frame identical to its target (infinite PSNR) is not scored and is "
                  "counted in unscored_frames")
    unscored_why = "identical to its target (infinite PSNR)"

    def frame_scores(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return psnr_per_frame(generated, real)
