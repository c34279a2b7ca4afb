"""LPIPS and FID plumbing with random backbones, weight resolution, Frechet distance vs scipy, FID resize
conventions against clean-fid."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from bench.errors import MissingWeightsError
from bench.metrics import build_metric
from bench.metrics.fid import FID, RealStatsCache
from bench.metrics.frechet import FrechetStats, frechet_distance
from bench.metrics.lpips_metric import build_lpips
from bench.metrics.aggregation import aggregate


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
    per_video = aggregate(metric.compute()).per_video
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
    same = aggregate(fid.compute())
    reference = fid.real_stats()
    assert reference.mu.shape == (2048,) and reference.count == 3
    scale = float(np.trace(reference.sigma))
    assert scale > 0 and abs(same.value) < 1e-8 * scale and same.per_video == {}
    fid.reset()
    fid.reference = reference  # real frames are not run through Inception again
    noisy = (real + 0.3 * torch.randn(real.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    fid.update(noisy, None, video="v")
    assert aggregate(fid.compute()).value > 1e-3 * scale


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
    expected = aggregate(whole.compute()).value
    assert expected > 0

    first, second = _small_fid(), _small_fid()
    first.update(gen[:4], real[:4], video="a")
    second.update(gen[4:], real[4:], video="b")
    second.merge(pickle.loads(pickle.dumps(first.state())))
    assert aggregate(second.compute()).value == pytest.approx(expected, rel=1e-9)

    cache = RealStatsCache(tmp_path)
    assert cache.load("vox", "test", 256, "all") is None
    cache.save(whole.real_stats(), "vox", "test", 256, "all")
    assert cache.load("vox", "test", 128, "all") is None
    with_reference = _small_fid(reference=cache.load("vox", "test", 256, "all"))
    with_reference.update(gen, None, video="x")
    assert aggregate(with_reference.compute()).value == pytest.approx(expected, rel=1e-9)


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


# --- resize conventions (backends): pytorch-fid's legacy resize and clean-fid's clean resize

REAL_FACE = sorted(Path(__file__).resolve().parents[1].parent.joinpath("shared/data/real/face/test").glob("*.mp4"))


def _real_frames(step: int = 8) -> np.ndarray:
    """Every ``step``-th frame of the real face clips of ../shared, uint8 at their own size (256 x 256)."""
    from bench.datasets.video_io import read_video

    if not REAL_FACE:
        pytest.skip("real face clips not found in ../shared/data/real/face/test")
    return np.concatenate([read_video(path)[::step] for path in REAL_FACE])


def test_clean_resize_equals_clean_fids_resizer_on_real_frames():
    """clean-fid's own resize function (cleanfid.resize.make_resizer("PIL", False, "bicubic", (299, 299)), the one
    its 'clean' mode builds) and ours agree on every pixel of real frames."""
    resize_module = pytest.importorskip("cleanfid.resize")
    from bench.metrics.fid import clean_resize

    frames = _real_frames()
    reference = np.stack([resize_module.make_resizer("PIL", False, "bicubic", (299, 299))(f) for f in frames])
    ours = clean_resize(frames)
    assert ours.dtype == reference.dtype == np.float32 and ours.shape == reference.shape == (len(frames), 299, 299, 3)
    assert np.abs(ours.astype(np.float64) - reference).max() == 0.0
    # clean-fid's build_resizer('clean') is that resizer; the legacy_pytorch one differs (bilinear, float)
    assert np.array_equal(resize_module.build_resizer("clean")(frames[0]), ours[0])


def test_clean_backend_feeds_inception_clean_fids_normalised_input():
    """The inception-clean extractor on frames in [0, 1] equals pytorch-fid's blocks applied to clean-fid's input:
    the uint8 frame, clean-resized, normalised by (x - 128) / 128 (cleanfid InceptionV3W.forward); the legacy
    extractor equals pytorch-fid's InceptionV3 (bilinear resize of the float frame inside, 2x - 1)."""
    resize_module = pytest.importorskip("cleanfid.resize")
    from bench.metrics.fid import InceptionFeatures, build_inception

    torch.manual_seed(0)
    net = build_inception(pretrained=False)
    frames = _real_frames(step=40)[:2]
    as_float = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    clean_input = np.stack([resize_module.make_resizer("PIL", False, "bicubic", (299, 299))(f) for f in frames])
    x = (torch.from_numpy(clean_input).permute(0, 3, 1, 2) - 128.0) / 128.0
    with torch.no_grad():
        for block in net.blocks:
            x = block(x)
        expected_clean = x.flatten(1)
        expected_legacy = net(as_float)[0].flatten(1)
    clean = InceptionFeatures(net, "clean")(as_float)
    legacy = InceptionFeatures(net, "legacy_pytorch")(as_float)
    assert torch.equal(clean, expected_clean) and torch.equal(legacy, expected_legacy)
    assert (clean - legacy).abs().max() > 1e-3  # the conventions give different features


def test_fid_backends_declare_the_resize_convention_and_share_one_extractor_with_kid(monkeypatch):
    from bench.metrics import metric_info
    from tests.run_support import use_cheap_inception

    info = metric_info("fid")
    assert [b.name for b in info.backends] == ["inception", "inception-clean"]
    assert [b.name for b in metric_info("kid").backends] == ["inception", "inception-clean"]
    net = use_cheap_inception(monkeypatch)
    legacy, clean = build_metric("fid"), build_metric("fid", backend="inception-clean")
    kid = build_metric("kid")
    assert legacy.features.resize == "legacy_pytorch" and clean.features.resize == "clean"
    assert legacy.features is kid.features and legacy.features.inception is clean.features.inception is net
    assert "clean-fid" in clean.cache_convention() and "pytorch-fid" in legacy.cache_convention()
    real, gen = _frames(4, size=32, seed=1), _frames(4, size=32, seed=2)
    net.frames = 0
    for metric in (legacy, kid):  # as the runner feeds them: the same batch tensors to every metric
        metric.update(gen, real, video="v")
    assert net.frames == 8  # FID and KID ran Inception once per batch
    with pytest.raises(ValueError, match="unknown fid backend"):
        FID(features=torch.nn.Identity(), backend="bogus")


def test_run_records_the_resize_convention_chosen_by_backend(tmp_path, monkeypatch):
    """--backend fid=inception-clean (and kid=...) changes the numbers and is recorded with the run's settings
    (summary.json ``run.backends``, the MLflow params); without it the default ``inception`` applies."""
    from bench.runner import real_stats
    from tests.run_support import run_quick, summary, use_cheap_inception

    use_cheap_inception(monkeypatch)  # real statistics cached in this test's folder, not the session's cache
    monkeypatch.setattr(real_stats, "stats_cache", lambda name="fid": RealStatsCache(tmp_path / "cache" / name, name))
    (legacy,) = run_quick(tmp_path / "legacy", max_videos=2, metrics=["fid", "kid"], refs=0)
    (clean,) = run_quick(tmp_path / "clean", max_videos=2, metrics=["fid", "kid"], refs=0,
                         backends=["fid=inception-clean", "kid=inception-clean"])
    assert summary(tmp_path / "clean")["run"]["backends"] == ["fid=inception-clean", "kid=inception-clean"]
    assert summary(tmp_path / "legacy")["run"]["backends"] == []
    for name in ("fid", "kid"):
        assert legacy.results[name].available and clean.results[name].available
        assert clean.results[name].value != pytest.approx(legacy.results[name].value, rel=1e-6)
    assert "std" in clean.results["kid"].extra
