"""KID against torch-fidelity, clean-fid and an independent numpy MMD^2; FVD's clip pipeline with a TorchScript
stand-in of StyleGAN-V's I3D, its Frechet distance against scipy; real-set caching of FID, KID and FVD."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.linalg
import torch

from bench.errors import MissingWeightsError
from bench.metrics import build_metric, metric_info
from bench.metrics.frechet import FrechetStats, frechet_distance
from bench.metrics.fvd import ClipReservoir
from bench.metrics.i3d import I3DFeatures
from bench.metrics.kid import KID, kernel_inception_distance
from bench.metrics.aggregation import aggregate

# the stand-in I3D is TorchScript, as StyleGAN-V's detector is
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.* is deprecated:FutureWarning")


# --------------------------------------------------------------------------- KID

def _numpy_kid(generated: np.ndarray, real: np.ndarray, subsets: int, size: int, seed: int) -> tuple[float, float]:
    """Independent unbiased MMD^2 (Gretton et al. 2012, eq. 3) with k(x, y) = (x.y/d + 1)^3, averaged over subsets
    drawn as torch-fidelity draws them (RandomState(seed); generated rows, then real rows, without replacement)."""
    rng = np.random.RandomState(seed)
    d = generated.shape[1]
    values = []
    for _ in range(subsets):
        x = generated[rng.choice(len(generated), size, replace=False)].astype(np.float64)
        y = real[rng.choice(len(real), size, replace=False)].astype(np.float64)
        off = ~np.eye(size, dtype=bool)
        k = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
        values.append(k(x, x)[off].mean() + k(y, y)[off].mean() - 2.0 * k(x, y).mean())
    return float(np.mean(values)), float(np.std(values))


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.abs(rng.normal(size=(n, d))) + shift).astype(np.float32)  # non-negative, like pool3 features


def test_kid_equals_numpy_unbiased_mmd_torch_fidelity_and_clean_fid():
    generated, real = _features(260, 64, 0, shift=0.1), _features(230, 64, 1)
    mean, std, m = kernel_inception_distance(generated, real, subsets=20, subset_size=100, seed=2020)
    assert m == 100 and mean > 0 and std > 0
    expected_mean, expected_std = _numpy_kid(generated, real, 20, 100, 2020)
    assert mean == pytest.approx(expected_mean, rel=1e-12) and std == pytest.approx(expected_std, rel=1e-10)

    fidelity = pytest.importorskip("torch_fidelity.metric_kid")
    for dtype, tolerance in ((np.float64, 1e-12), (np.float32, 1e-4)):  # torch-fidelity computes in the features' dtype
        out = fidelity.kid_features_to_metric(torch.from_numpy(generated.astype(dtype)),
                                               torch.from_numpy(real.astype(dtype)), kid_subsets=20,
                                               kid_subset_size=100, rng_seed=2020, verbose=False)
        assert mean == pytest.approx(out[fidelity.KEY_METRIC_KID_MEAN], rel=tolerance)
        assert std == pytest.approx(out[fidelity.KEY_METRIC_KID_STD], rel=tolerance)

    cleanfid = pytest.importorskip("cleanfid.fid")
    np.random.seed(2020)  # clean-fid draws from the global generator: feats2 (generated) first, then feats1 (real)
    reference = cleanfid.kernel_distance(real.astype(np.float64), generated.astype(np.float64), num_subsets=20,
                                         max_subset_size=1000)
    ours, _, m_all = kernel_inception_distance(generated, real, subsets=20, subset_size=1000, seed=2020)
    assert m_all == 230 and ours == pytest.approx(reference, rel=1e-12)  # subset size: min(1000, #gen, #real)


def _small_features() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2))


def _frames(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 8, size // 8, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def test_kid_metric_pools_frames_merges_states_and_reports_std():
    features = _small_features()
    real, gen = _frames(12, seed=1), _frames(12, seed=2)
    whole = KID(features=features, subsets=10, subset_size=8)
    whole.update(gen[:6], real[:6], video="a")
    whole.update(gen[6:], real[6:], video="b")
    result = aggregate(whole.compute())
    with torch.no_grad():
        gen_rows, real_rows = features(gen).flatten(1).numpy(), features(real).flatten(1).numpy()
    expected, std, m = kernel_inception_distance(gen_rows, real_rows, subsets=10, subset_size=8)
    assert result.value == pytest.approx(expected, rel=1e-9) and result.extra["std"] == pytest.approx(std, rel=1e-9)
    assert result.extra["subset_size"] == m == 8 and result.per_video == {}
    first, second = KID(features=features, subsets=10, subset_size=8), KID(features=features, subsets=10, subset_size=8)
    first.update(gen[:6], real[:6], video="a")
    second.update(gen[6:], real[6:], video="b")
    second.merge(pickle.loads(pickle.dumps(first.state())))
    assert aggregate(second.compute()).value == pytest.approx(result.value, rel=1e-12)
    cached = KID(features=features, subsets=10, subset_size=8, reference=whole.real_reference())
    cached.update(gen, None, video="x")
    assert aggregate(cached.compute()).value == pytest.approx(result.value, rel=1e-12)


def test_kid_declares_optional_columns_and_animation_real_set_is_each_source_once():
    info = metric_info("kid")
    assert info.distribution and not info.higher_is_better
    assert {t: (u.target, u.default) for t, u in info.tasks.items()} == {
        "reconstruction": ("driving", False), "animation": ("source", False)}
    kid = KID(features=_small_features(), target="source", subsets=5, subset_size=4)
    sources = _frames(2, seed=3)
    for i, (video, source) in enumerate([("p0", 0), ("p1", 1), ("p2", 0)]):
        gen = _frames(4, seed=10 + i)
        kid.update(gen, sources[source:source + 1].expand(4, -1, -1, -1), video=video)
    assert len(kid.real_features()) == 2 and aggregate(kid.compute()).extra["real_frames"] == 2.0


# --------------------------------------------------------------------------- FVD

class StandInI3D(torch.nn.Module):
    """The call signature of StyleGAN-V's i3d_torchscript.pt, with made-up features: 400-d, of which the first 8
    depend on the clip (the rest are zero). It accepts only what StyleGAN-V hands the real detector: uint8
    ``B x 3 x 16 x H x W`` clips with rescale=True, resize=True, return_features=True."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.projection = torch.nn.Parameter(torch.randn(8, 12, generator=generator), requires_grad=False)

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = False) -> torch.Tensor:
        if x.dtype != torch.uint8:
            raise RuntimeError("expected uint8 clips")
        if not (rescale and resize and return_features):
            raise RuntimeError("expected rescale=True, resize=True, return_features=True")
        if x.dim() != 5 or x.shape[1] != 3 or x.shape[2] != 16:
            raise RuntimeError("expected B x 3 x 16 x H x W")
        v = x.float() / 255.0 * 2.0 - 1.0  # rescale to [-1, 1]
        v = torch.nn.functional.interpolate(v, size=(16, 224, 224), mode="trilinear", align_corners=False)
        pooled = v.mean(dim=(3, 4))  # B x 3 x 16
        chunks = pooled.reshape(v.shape[0], 3, 4, 4).mean(dim=3).flatten(1)  # B x 12: colour over 4 time chunks
        features = torch.tanh(chunks @ self.projection.t() * 3.0)
        return torch.cat([features, torch.zeros(v.shape[0], 392)], dim=1)


@pytest.fixture
def i3d_dir(tmp_path, monkeypatch):
    """A --weights-dir holding the scripted stand-in under StyleGAN-V's file name; an empty torch hub cache."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.jit.script(StandInI3D()).save(str(folder / "i3d_torchscript.pt"))
    return folder


def _videos(count: int = 12, seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """name -> (generated, driving) T x 3 x 24 x 24 in [0, 1], lengths 16..29; one video of 10 frames (too short)."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(count + 1):
        length = 10 if i == count else int(rng.integers(16, 30))
        t = torch.linspace(0, 1, length)[:, None, None, None]
        base = torch.from_numpy(rng.random((3, 1, 1, 1))).float().squeeze(1)
        drift = torch.from_numpy(rng.random((3, 1, 1))).float()
        texture = _frames(1, size=24, seed=100 + i)[0]
        driving = ((0.3 * base + 0.5 * texture)[None] + 0.4 * t * drift[None]).clamp(0, 1)
        driving = torch.round(driving * 255) / 255  # decoded video frames are uint8 / 255
        generated = (driving + 0.05 * torch.sin(7.0 * t + i)).clamp(0, 1)  # float output, not on the uint8 grid
        out[f"v{i:02d}"] = (generated, driving)
    return out


def _feed(metric, videos, batch_size: int) -> None:
    for name, (generated, driving) in videos.items():
        for start in range(0, len(generated), batch_size):
            metric.update(generated[start:start + batch_size], driving[start:start + batch_size], video=name)


def _uint8_clip(frames: torch.Tensor) -> torch.Tensor:
    """T x 3 x H x W in [0, 1] -> 1 x 3 x T x H x W uint8, floor(255 v + 0.5) computed in numpy."""
    array = np.floor(frames.double().numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    return torch.from_numpy(array).permute(1, 0, 2, 3).unsqueeze(0).contiguous()


def _scipy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    """StyleGAN-V's compute_fvd on two feature sets: mean, population covariance, scipy's sqrtm."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False, bias=True), np.cov(b, rowvar=False, bias=True)
    root = scipy.linalg.sqrtm(s_a @ s_b)
    return float(np.real(np.square(mu_a - mu_b).sum() + np.trace(s_a + s_b - root * 2)))


def test_fvd_clips_features_and_distance_equal_an_independent_computation(i3d_dir):
    videos = _videos()
    metric = build_metric("fvd", weights_dir=i3d_dir)
    _feed(metric, videos, batch_size=5)
    result = aggregate(metric.compute())
    state = metric.state()

    detector = torch.jit.load(str(i3d_dir / "i3d_torchscript.pt"))
    kwargs = dict(rescale=True, resize=True, return_features=True)
    long = {name: pair for name, pair in videos.items() if len(pair[0]) >= 16}
    offsets = state["real_offset"]
    assert sorted(offsets) == sorted(long)  # the short video has no clip
    gen_rows, real_rows = [], []
    with torch.no_grad():
        for name, (generated, driving) in sorted(long.items()):
            offset = offsets[name]
            assert 0 <= offset <= len(driving) - 16
            gen_rows.append(detector(_uint8_clip(generated[:16]), **kwargs).numpy()[0])
            real_rows.append(detector(_uint8_clip(driving[offset:offset + 16]), **kwargs).numpy()[0])
    gen_rows, real_rows = np.array(gen_rows, np.float64), np.array(real_rows, np.float64)
    assert gen_rows.shape == (12, 400) and not gen_rows[:, 8:].any()
    assert np.allclose(np.concatenate([state["generated"][n] for n in sorted(long)]), gen_rows, atol=1e-6)
    expected = _scipy_frechet(gen_rows[:, :8], real_rows[:, :8])  # the zero features add nothing
    assert result.value == pytest.approx(expected, rel=1e-6)
    assert result.extra == {"generated_clips": 12.0, "real_clips": 12.0, "frames_per_clip": 16.0, "clip_seed": 0.0,
                            "short_videos": 1.0}
    assert len(set(offsets.values())) > 3  # offsets are spread, not all the first frames


def test_fvd_is_independent_of_batch_size_order_and_process_and_follows_its_seed(i3d_dir):
    videos = _videos(8)
    values, offsets = [], []
    for batch_size in (3, 16, 40):
        metric = build_metric("fvd", weights_dir=i3d_dir)
        _feed(metric, videos, batch_size)
        values.append(aggregate(metric.compute()).value)
        offsets.append(metric.state()["real_offset"])
    assert values[0] == values[1] == values[2] and offsets[0] == offsets[1] == offsets[2]
    # two processes, each a half of the videos (in reverse order), merged: the same clips and value
    names = list(videos)[::-1]
    halves = [build_metric("fvd", weights_dir=i3d_dir) for _ in range(2)]
    _feed(halves[0], {n: videos[n] for n in names[:4]}, 7)
    _feed(halves[1], {n: videos[n] for n in names[4:]}, 7)
    halves[1].merge(pickle.loads(pickle.dumps(halves[0].state())))
    assert halves[1].state()["real_offset"] == offsets[0] and aggregate(halves[1].compute()).value == pytest.approx(values[0],
                                                                                                         rel=1e-12)
    reseeded = build_metric("fvd", weights_dir=i3d_dir, seed=1)
    _feed(reseeded, videos, 16)
    assert reseeded.state()["real_offset"] != offsets[0] and aggregate(reseeded.compute()).extra["clip_seed"] == 1.0


def test_clip_offsets_are_uniform_over_the_valid_starts():
    """Reservoir sampling keeps start s with probability 1/(s+1): the kept start is uniform, like StyleGAN-V's
    random.randint(0, n - 16)."""
    starts, trials = 6, 6000
    counts = np.zeros(starts)
    for trial in range(trials):
        reservoir, kept = ClipReservoir(0, trial.to_bytes(4, "little")), None
        for start in range(starts):
            if reservoir.offer():
                kept = start
        counts[kept] += 1
    expected = trials / starts
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 20.5  # 99.9% quantile of chi-square with 5 degrees of freedom


def test_fvd_animation_counts_a_driving_clip_shared_by_pairs_once(i3d_dir):
    videos = _videos(3)
    metric = build_metric("fvd", weights_dir=i3d_dir)
    assert metric.target == "driving"  # FVD compares with the driving videos in animation too
    (a_gen, a_drv), (b_gen, b_drv) = list(videos.values())[:2]
    pairs = {"s1->a": (a_gen, a_drv), "s2->a": (0.9 * a_gen, a_drv), "s1->b": (b_gen, b_drv)}
    _feed(metric, pairs, 5)
    result = aggregate(metric.compute())
    state = metric.state()
    assert state["real_offset"]["s1->a"] == state["real_offset"]["s2->a"]  # same driving video, same clip
    assert result.extra["generated_clips"] == 3.0 and result.extra["real_clips"] == 2.0


def test_fvd_declares_optional_columns_and_missing_weights_name_the_file(tmp_path, monkeypatch):
    info = metric_info("fvd")
    assert info.distribution and [b.name for b in info.backends] == ["i3d"]
    assert {t: (u.target, u.default) for t, u in info.tasks.items()} == {
        "reconstruction": ("driving", False), "animation": ("driving", False)}
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(MissingWeightsError, match="i3d_torchscript.pt") as error:
        build_metric("fvd", weights_dir=tmp_path / "mine")
    assert "mine" in str(error.value) and str(tmp_path / "hub" / "checkpoints") in str(error.value)


def test_fvd_wrapper_calls_the_detector_with_stylegan_v_kwargs():
    seen = {}

    class Recorder(torch.nn.Module):
        def forward(self, x, **kwargs):
            seen.update(kwargs, dtype=x.dtype, shape=tuple(x.shape), contiguous=x.is_contiguous())
            return torch.zeros(len(x), 400)

    clips = torch.zeros(2, 16, 3, 8, 8, dtype=torch.uint8).permute(0, 2, 1, 3, 4)  # non-contiguous view
    assert I3DFeatures(Recorder())(clips).shape == (2, 400)
    assert seen == {"rescale": True, "resize": True, "return_features": True, "dtype": torch.uint8,
                    "shape": (2, 3, 16, 8, 8), "contiguous": True}
    with pytest.raises(ValueError, match="uint8"):
        I3DFeatures(Recorder())(clips.float())


def test_frechet_distance_of_fvd_statistics_matches_scipy():
    """FVD's statistics (400-d, population covariance) through frechet_distance vs StyleGAN-V's scipy sqrtm."""
    rng = np.random.default_rng(0)
    gen = rng.normal(size=(1200, 400)) @ (np.eye(400) + 0.05 * rng.normal(size=(400, 400))) + 0.2
    real = rng.normal(size=(1000, 400))
    a, b = FrechetStats.from_features(gen, ddof=0), FrechetStats.from_features(real, ddof=0)
    assert np.allclose(a.sigma, np.cov(gen, rowvar=False, bias=True))
    assert frechet_distance(a.mu, a.sigma, b.mu, b.sigma) == pytest.approx(_scipy_frechet(gen, real), rel=1e-9)


def test_run_feeds_fvd_in_batches_as_one_pass_over_each_video(tmp_path, i3d_dir, monkeypatch):
    """bench run (copy-source, --metrics fvd, batches of 6 frames, one record per video merged) gives the FVD of
    feeding each whole video at once."""
    from bench.metrics.fid import RealStatsCache
    from bench.runner import real_stats
    from tests.run_support import frames01, run_quick, summary, synthetic_videos

    monkeypatch.setattr(real_stats, "stats_cache", lambda name="fid": RealStatsCache(tmp_path / "cache" / name, name))
    (report,) = run_quick(tmp_path / "run", max_videos=4, metrics=["l1", "fvd"], refs=0, batch_size=6,
                          weights_dir=str(i3d_dir))
    direct = build_metric("fvd", weights_dir=i3d_dir)
    for video in synthetic_videos(4):
        driving = torch.from_numpy(frames01(video.path)).permute(0, 3, 1, 2).float()
        direct.update(driving[:1].expand_as(driving), driving, video=video.name)
    assert report.results["fvd"].value == pytest.approx(aggregate(direct.compute()).value, rel=1e-9)
    assert summary(tmp_path / "run")["extra"]["fvd"]["clip_seed"] == 0.0


# --------------------------------------------------------------------------- real-set caching

def test_real_summaries_are_cached_per_metric_and_convention(tmp_path, i3d_dir, monkeypatch):
    from bench.datasets import get_dataset
    from bench.metrics.fid import RealStatsCache
    from bench.runner import real_stats
    from bench.runner.items import reconstruction_items
    from tests.run_support import synthetic_videos, use_cheap_inception

    use_cheap_inception(monkeypatch)
    monkeypatch.setattr(real_stats, "stats_cache", lambda name="fid": RealStatsCache(tmp_path / "cache" / name, name))
    spec, items = get_dataset("synthetic"), reconstruction_items(synthetic_videos(2))
    metrics = {"fid": build_metric("fid"), "fid_clean": build_metric("fid", backend="inception-clean"),
               "kid": build_metric("kid"), "fvd": build_metric("fvd", weights_dir=i3d_dir),
               "l1": build_metric("l1")}
    assert sorted(real_stats.cached_metrics(metrics)) == ["fid", "fid_clean", "fvd", "kid"]
    videos = _videos(3)
    records = {}
    for name, (generated, driving) in videos.items():
        states = {}
        for key, metric in metrics.items():
            metric.reset()
            metric.update(generated, driving, video=name)
            states[key] = metric.state()
        records[name] = {"states": states}
    assert real_stats.load_all(metrics, spec, tmp_path, items) == {}
    written = real_stats.save_all(metrics, records, [], spec, tmp_path, items)
    assert sorted(written) == ["fid", "fid_clean", "fvd", "kid"] and len(set(written.values())) == 4
    assert all(path.parent.parent == tmp_path / "cache" for path in written.values())
    found = real_stats.load_all(metrics, spec, tmp_path, items)
    assert isinstance(found["kid"], np.ndarray) and found["kid"].shape == (sum(len(g) for g, _ in videos.values()), 64)
    assert isinstance(found["fvd"], FrechetStats) and found["fvd"].count == 3
    for key in ("fid", "fid_clean", "kid", "fvd"):
        metric = metrics[key]
        metric.reset()
        for state in (r["states"][key] for r in records.values()):
            metric.merge(state)
        expected = aggregate(metric.compute()).value
        metric.reset()
        metric.reference = found[key]
        for name, (generated, _) in videos.items():
            metric.update(generated, None, video=name)  # real frames no longer needed
        assert aggregate(metric.compute()).value == pytest.approx(expected, rel=1e-9)
    # another clip seed is another convention: not found in the cache
    assert real_stats.load(build_metric("fvd", weights_dir=i3d_dir, seed=1), spec, tmp_path, items) is None
    assert found["fid"].mu.shape != () and not np.array_equal(found["fid"].mu, found["fid_clean"].mu)
