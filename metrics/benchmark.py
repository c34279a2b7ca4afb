"""Throughput of the metrics (``bench perf metrics``) and batched SSIM vs a scikit-image loop.

Backbones whose pretrained weights are missing run with random weights (same cost for the
pixel networks; detectors may find nothing on random input, so their speed depends on
content: pass a real video for meaningful AKD / CSIM figures).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from bench.errors import MissingWeightsError
from bench.metrics.base import Metric


@dataclass
class Timing:
    name: str
    frames_per_s: float | None
    note: str = ""


def smooth_frames(n: int, size: int = 256, seed: int = 0) -> torch.Tensor:
    """``n x 3 x size x size`` smooth random frames in [0, 1] (upsampled noise)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 16, size // 16, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def time_call(fn: Callable[[], object], repeats: int = 1) -> float:
    """Best wall time of ``repeats`` calls after one warm-up call (seconds)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def _build(name: str, domain: str, device: torch.device, weights_dir: str | Path | None) -> tuple[Metric, str]:
    from bench.metrics import build_metric

    try:
        return build_metric(name, domain, device, weights_dir=weights_dir), ""
    except MissingWeightsError as exc:
        if name in ("akd", "csim", "aed") and domain == "face":
            return (build_metric(name, domain, device, weights_dir=weights_dir, backend="dlib"),
                    f"dlib backend ({exc.filename} missing)")
        random = {"lpips": {"pretrained_backbone": False}, "fid": {"pretrained": False}}.get(name)
        if random is None:
            raise
        return build_metric(name, domain, device, weights_dir=weights_dir, **random), "random weights"


def metric_throughput(names: list[str], generated: torch.Tensor, real: torch.Tensor, domain: str,
                      device: torch.device, weights_dir: str | Path | None = None, repeats: int = 1,
                      batch_size: int = 16) -> list[Timing]:
    """Frames per second of each metric's ``update`` over ``generated`` / ``real``."""
    timings = []
    for name in names:
        try:
            metric, note = _build(name, domain, device, weights_dir)
        except MissingWeightsError as exc:
            timings.append(Timing(name, None, f"skipped: {exc.filename} missing"))
            continue

        def run() -> None:
            metric.reset()
            for start in range(0, len(generated), batch_size):
                metric.update(generated[start:start + batch_size].to(device), real[start:start + batch_size].to(device),
                              video="v")

        seconds = time_call(run, repeats)
        timings.append(Timing(name, len(generated) / seconds, note))
    return timings


def ssim_vs_skimage(generated: torch.Tensor, real: torch.Tensor, device: torch.device,
                    repeats: int = 1) -> list[tuple[str, float, float]]:
    """(metric, batched torch seconds, per-frame scikit-image seconds) for SSIM and MS-SSIM.

    scikit-image has no MS-SSIM; its loop is built from ``structural_similarity`` (full maps)
    with 2x2 average downsampling, the same computation frame by frame.
    """
    from skimage.metrics import structural_similarity

    from bench.metrics.ssim import K1, K2, MS_SSIM_WEIGHTS, ms_ssim, ssim

    gen_np = generated.permute(0, 2, 3, 1).double().numpy()
    real_np = real.permute(0, 2, 3, 1).double().numpy()
    options = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=2,
                   K1=K1, K2=K2)

    def sk_ssim() -> None:
        for a, b in zip(gen_np, real_np):
            structural_similarity(a, b, **options)

    def sk_ms_ssim() -> None:
        for a, b in zip(gen_np, real_np):
            for scale in range(len(MS_SSIM_WEIGHTS)):
                structural_similarity(a, b, full=True, **options)
                if scale < len(MS_SSIM_WEIGHTS) - 1:
                    a = _halve(a)
                    b = _halve(b)

    g, r = generated.to(device), real.to(device)
    return [("ssim", time_call(lambda: ssim(g, r), repeats), time_call(sk_ssim, repeats)),
            ("ms_ssim", time_call(lambda: ms_ssim(g, r), repeats), time_call(sk_ms_ssim, repeats))]


def _halve(image: np.ndarray) -> np.ndarray:
    """2x2 average pooling of an ``H x W x C`` image (odd sizes lose their last row/column)."""
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    return image[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3))
