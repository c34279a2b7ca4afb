"""LPIPS and FID plumbing with random backbones, weight resolution, Frechet distance vs scipy."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.linalg
import torch

from bench.errors import MissingWeightsError
from bench.metrics import build_metric
from bench.metrics.fid import FID, FrechetStats, RealStatsCache, frechet_distance
from bench.metrics.lpips_metric import build_lpips


def _frames(n: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 8, size // 8, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """A torch hub cache without any checkpoint."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def test_lpips_random_backbone_zero_on_identity_and_grows_with_noise():
    metric = build_metric("lpips", pretrained_backbone=False)
    torch.manual_seed(0)  # lpips' random backbone init is global-RNG based; values only compared within one model
    real = _frames(3)
    noise = torch.randn(real.shape, generator=torch.Generator().manual_seed(1))
    metric.update(real, real, video="same")
    for sigma in (0.05, 0.2):
        metric.update((real + sigma * noise).clamp(0, 1), real, video=f"noise{sigma}")
    per_video = metric.compute().per_video
    assert per_video["same"] == pytest.approx(0.0, abs=1e-7)
    assert 0 < per_video["noise0.05"] < per_video["noise0.2"]


def test_lpips_missing_backbone_weights_name_the_file(empty_hub):
    with pytest.raises(MissingWeightsError, match="alexnet-owt-7be5be79.pth") as info:
        build_metric("lpips")
    assert str(empty_hub) in str(info.value)


def test_lpips_loads_torchvision_backbone_from_weights_dir(tmp_path, empty_hub):
    import torchvision

    torch.manual_seed(3)
    backbone = torchvision.models.alexnet(weights=None)
    torch.save(backbone.state_dict(), tmp_path / "alexnet-owt-7be5be79.pth")
    model = build_lpips("alex", weights_dir=tmp_path)
    conv = dict(model.net.named_modules())["slice1.0"]
    assert torch.equal(conv.weight, backbone.features[0].weight)
    assert torch.equal(dict(model.net.named_modules())["slice5.10"].bias, backbone.features[10].bias)


def test_frechet_distance_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 16))
    b = rng.normal(size=(150, 16)) @ rng.normal(size=(16, 16)) * 0.5 + 0.3
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    m1, m2 = a.mean(0), b.mean(0)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(m1, s1, m1, s1) == pytest.approx(0.0, abs=1e-8)


def test_random_fid_inception_gives_input_dependent_pool3_features():
    from bench.metrics.fid import InceptionFeatures, build_inception

    torch.manual_seed(0)
    features = InceptionFeatures(build_inception(pretrained=False))
    out = features(_frames(2, size=32))
    assert out.shape == (2, 2048) and torch.isfinite(out).all()
    assert (out[0] - out[1]).abs().max() > 1e-4 * out.abs().max()


@pytest.mark.slow
def test_fid_random_inception_self_zero_and_noise_positive():
    torch.manual_seed(0)
    fid = FID(pretrained=False)
    real = _frames(3, size=32)
    fid.update(real, real, video="v")
    same = fid.compute()
    reference = fid.real_stats()
    assert reference.mu.shape == (2048,) and reference.count == 3
    scale = float(np.trace(reference.sigma))
    assert scale > 0 and abs(same.value) < 1e-8 * scale and same.per_video == {}
    fid.reset()
    fid.reference = reference  # real frames are not run through Inception again
    noisy = (real + 0.3 * torch.randn(real.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    fid.update(noisy, None, video="v")
    assert fid.compute().value > 1e-3 * scale


def _small_fid(reference: FrechetStats | None = None) -> FID:
    """FID over a small random conv feature extractor (same accumulation, cheap forward)."""
    torch.manual_seed(0)
    features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2))
    return FID(features=features, reference=reference)


def test_fid_state_merge_equals_single_pass_and_reference_stats(tmp_path):
    real, gen = _frames(8, size=32, seed=1), _frames(8, size=32, seed=2)
    whole = _small_fid()
    whole.update(gen[:4], real[:4], video="a")
    whole.update(gen[4:], real[4:], video="b")
    expected = whole.compute().value
    assert expected > 0

    first, second = _small_fid(), _small_fid()
    first.update(gen[:4], real[:4], video="a")
    second.update(gen[4:], real[4:], video="b")
    second.merge(pickle.loads(pickle.dumps(first.state())))
    assert second.compute().value == pytest.approx(expected, rel=1e-9)

    cache = RealStatsCache(tmp_path)
    assert cache.load("vox", "test", 256, "all") is None
    cache.save(whole.real_stats(), "vox", "test", 256, "all")
    assert cache.load("vox", "test", 128, "all") is None
    with_reference = _small_fid(reference=cache.load("vox", "test", 256, "all"))
    with_reference.update(gen, None, video="x")
    assert with_reference.compute().value == pytest.approx(expected, rel=1e-9)


def test_fid_missing_inception_weights(empty_hub):
    with pytest.raises(MissingWeightsError, match="pt_inception-2015-12-05-6726825d.pth"):
        build_metric("fid")


def test_one_vector_is_a_point_mass_and_none_is_an_error():
    with pytest.raises(ValueError):
        FrechetStats.from_features(np.zeros((0, 4)))
    point = FrechetStats.from_features(np.array([[1.0, 2.0, 3.0]]))
    assert point.count == 1 and not point.sigma.any() and point.mu.tolist() == [1.0, 2.0, 3.0]
    # Frechet distance to a point mass: |mu - x|^2 + Tr(S)
    features = np.random.default_rng(0).normal(size=(50, 3))
    stats = FrechetStats.from_features(features)
    expected = float(((stats.mu - point.mu) ** 2).sum() + np.trace(stats.sigma))
    assert frechet_distance(stats.mu, stats.sigma, point.mu, point.sigma) == pytest.approx(expected, rel=1e-9)
