"""L1, PSNR, SSIM and MS-SSIM: reference agreement on real frames, invariants, monotonicity."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.metrics import build_metric
from bench.metrics.pixel import l1_per_frame, psnr_per_frame
from bench.metrics.ssim import ms_ssim, ssim
from bench.metrics.aggregation import aggregate

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def _real_frames(n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    if not REAL.is_dir():
        pytest.skip(f"shared real frames not found at {REAL}")
    from bench.datasets.video_io import read_video

    a = read_video(REAL / "face" / "test" / "tpsdemo#000000#000039.mp4")[:n]
    b = read_video(REAL / "face" / "test" / "tpsdemo#000080#000119.mp4")[:n]
    return a, b


def _tensor(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0


def test_ssim_matches_scikit_image_on_real_frames():
    from skimage.metrics import structural_similarity

    a, b = _real_frames()
    ours = ssim(_tensor(a), _tensor(b)).numpy()
    ref = [structural_similarity(x / 255.0, y / 255.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=1.0, channel_axis=2) for x, y in zip(a, b)]
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=0)
    assert np.ptp(ref) > 1e-3  # frames differ, so a constant could not pass


def test_ssim_and_ms_ssim_match_pytorch_msssim_on_real_frames():
    import pytorch_msssim

    a, b = _real_frames()
    x, y = _tensor(a), _tensor(b)
    np.testing.assert_allclose(ssim(x, y).numpy(), pytorch_msssim.ssim(x, y, data_range=1.0, size_average=False).numpy(),
                               atol=1e-4, rtol=0)
    np.testing.assert_allclose(ms_ssim(x, y).numpy(),
                               pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False).numpy(), atol=1e-4, rtol=0)


def test_ms_ssim_is_not_applicable_at_160_px_and_below():
    metric = build_metric("ms_ssim")
    frames = torch.rand(2, 3, 160, 160)
    metric.update(frames, frames, video="v")
    result = aggregate(metric.compute())
    assert result.value is None and "160" in result.na_reason
    with pytest.raises(ValueError, match="160"):
        ms_ssim(frames, frames)
    big = torch.rand(1, 3, 168, 168)
    assert ms_ssim(big, big).item() == pytest.approx(1.0, abs=1e-6)


def test_pixel_known_answers():
    real = torch.zeros(2, 3, 8, 8)
    generated = torch.full_like(real, 0.1)
    assert l1_per_frame(generated, real).tolist() == pytest.approx([0.1, 0.1])
    assert psnr_per_frame(generated, real).tolist() == pytest.approx([20.0, 20.0], abs=1e-4)  # 10 log10(1 / 0.01)


@pytest.mark.parametrize("name,perfect", [("l1", 0.0), ("ssim", 1.0), ("ms_ssim", 1.0)])
def test_video_against_itself(name, perfect):
    a, _ = _real_frames(3)
    metric = build_metric(name)
    metric.update(_tensor(a), _tensor(a), video="v")
    assert aggregate(metric.compute()).value == pytest.approx(perfect, abs=1e-6)


def test_psnr_leaves_identical_frames_unscored_and_says_so():
    a, b = _real_frames(3)
    metric = build_metric("psnr")
    metric.update(_tensor(a), _tensor(a), video="same")
    result = aggregate(metric.compute())
    assert result.value is None and result.extra["unscored_frames"] == 3
    assert "3 frame(s) without a finite score: identical to its target (infinite PSNR)" in result.na_reason
    metric.update(_tensor(b), _tensor(a), video="other")  # no cap: the mean is that of the finite frames only
    from skimage.metrics import peak_signal_noise_ratio

    expected = np.mean([peak_signal_noise_ratio(x.astype(np.float64) / 255, y.astype(np.float64) / 255,
                                                data_range=1.0) for x, y in zip(a, b)])
    assert aggregate(metric.compute()).value == pytest.approx(expected, abs=1e-5)  # float32 frames vs float64


@pytest.mark.parametrize("name", ["l1", "psnr", "ssim", "ms_ssim"])
def test_more_noise_scores_worse(name):
    a, _ = _real_frames(2)
    real = _tensor(a)
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(real.shape, generator=generator)
    values = []
    for sigma in (0.02, 0.05, 0.15):
        metric = build_metric(name)
        metric.update((real + sigma * noise).clamp(0, 1), real, video="v")
        values.append(aggregate(metric.compute()).value)
    higher = build_metric(name).info.higher_is_better
    assert values == sorted(values, reverse=higher) and len(set(values)) == 3


@pytest.mark.parametrize("convention,expected", [("fomm", 0.25), ("video-mean", 0.2)])
def test_dataset_value_follows_the_convention(convention, expected):
    metric = build_metric("l1")
    real = torch.zeros(3, 3, 4, 4)
    metric.update(torch.full_like(real, 0.3), real, video="long")  # 3 frames at 0.3
    metric.update(torch.full_like(real[:1], 0.1), real[:1], video="short")  # 1 frame at 0.1
    result = aggregate(metric.compute(), convention)
    assert result.per_video == pytest.approx({"long": 0.3, "short": 0.1})
    # fomm: every frame pooled (FOMM's reconstruction.py: np.mean over all frames) = 0.25; video-mean: 0.2
    assert result.value == pytest.approx(expected, abs=1e-7)  # float32 frames
