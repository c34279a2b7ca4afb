"""state()/merge(): videos split over two instances and merged give the single-pass result."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from bench.metrics import build_metric
from bench.metrics.akd import AKD
from bench.metrics.identity import AED, CSIM
from bench.metrics.aggregation import aggregate


def fake_detector(images: np.ndarray):
    """Keypoints that move with the image brightness; 'no detection' for dark frames."""
    out = []
    for image in images:
        level = float(image.mean())
        out.append(None if level < 20 else (np.array([[level, 0.0], [0.0, level / 2]]), np.array([True, level > 120])))
    return out


def fake_embedder(images: np.ndarray):
    """A unit embedding from per-channel means; 'no face' for dark frames."""
    out = []
    for image in images:
        v = image.reshape(-1, 3).mean(axis=0).astype(np.float64) + 1.0
        out.append(None if image.mean() < 20 else v / np.linalg.norm(v))
    return out


def _build(name: str):
    if name == "akd":
        return AKD(backend="fake", detector=fake_detector)
    if name in ("csim", "aed"):
        return {"csim": CSIM, "aed": AED}[name](backend="fake", embedder=fake_embedder)
    if name == "lpips":
        torch.manual_seed(0)
        return build_metric("lpips", pretrained_backbone=False)
    return build_metric(name)


def _videos(size: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    videos = {}
    for i, n in enumerate((3, 2, 4)):
        real = torch.rand(n, 3, size, size, generator=generator) * (0.3 + 0.3 * i)
        generated = (real + 0.1 * torch.randn(real.shape, generator=generator)).clamp(0, 1)
        videos[f"video{i}"] = (generated, real)
    videos["video0"][0][0] = 0.0  # a generated frame without detection
    return videos


@pytest.mark.parametrize("name", ["l1", "psnr", "ssim", "ms_ssim", "lpips", "akd", "csim", "aed"])
def test_split_then_merge_equals_single_pass(name):
    videos = _videos(168 if name == "ms_ssim" else 32)  # MS-SSIM needs > 160 px
    single = _build(name)
    for video, (generated, real) in videos.items():
        for start in range(0, len(generated), 2):  # several batches per video
            single.update(generated[start:start + 2], real[start:start + 2], video=video)
    expected = aggregate(single.compute())
    assert expected.value is not None and len(expected.per_video) == 3

    first, second = _build(name), _build(name)
    for index, (video, (generated, real)) in enumerate(videos.items()):
        (first if index == 1 else second).update(generated, real, video=video)
    second.merge(pickle.loads(pickle.dumps(first.state())))
    merged = aggregate(second.compute())
    assert merged.value == pytest.approx(expected.value, rel=1e-6)
    assert merged.per_video == pytest.approx(expected.per_video, rel=1e-6)
    counts = {k: v for k, v in merged.extra.items() if k != "std"}  # std follows the per-video values' rounding
    assert counts == pytest.approx({k: v for k, v in expected.extra.items() if k != "std"}, rel=1e-9, nan_ok=True)
    assert merged.extra.get("std") == pytest.approx(expected.extra.get("std"), rel=1e-6)

    second.reset()
    assert aggregate(second.compute()).value is None
