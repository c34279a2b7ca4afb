"""``bench run`` end to end: protocols against independent computations, outputs, tracking, errors."""
from __future__ import annotations

import builtins
import csv
import io
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from bench import tracking
from bench.checkpoints import save_checkpoint
from bench.cli import main
from bench.datasets import DATASETS
from bench.datasets.spec import DatasetSpec
from bench.datasets.video_io import list_videos
from bench.methods import METHODS, MethodSpec, build_method
from bench.methods.base import Method
from bench.metrics import metric_info
from bench.metrics.base import Metric
from bench.runner import RunSettings, plan_run, run
from bench.runner.evaluate import ItemEvaluator
from bench.runner.items import animation_items, load_item
from bench.runner.records import file_sha256
from tests.run_support import (copy_source_l1, frames01, numbers, quick_settings, run_quick, summary, synthetic_videos,
                               use_cheap_inception)
from tests.tiny_method import NAME as TINY, build_tiny


def _no_compute(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("an item was computed")
    monkeypatch.setattr(ItemEvaluator, "evaluate", fail)


def test_cli_reconstruction_matches_independent_l1_and_best_of_refs(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", "--method", "copy-source", "--dataset", "synthetic", "--task", "reconstruction",
                 "--max-videos", "3", "--metrics", "l1,psnr,ssim", "--refs", "2", "--save-videos", "1",
                 "--out", str(out)])
    assert code == 0
    got = summary(out)
    plain, best = copy_source_l1(synthetic_videos(3), refs=2)
    assert got["means"]["l1"] == pytest.approx(plain, abs=1e-6)
    assert got["means"]["l1_best"] == pytest.approx(best, abs=1e-6)
    assert got["counts"]["videos"] == 3 and got["skipped"] == {}
    with (out / "per_video.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["video"] for r in rows] == [v.name for v in synthetic_videos(3)]
    assert {"l1", "psnr", "ssim", "l1_best", "psnr_best", "ssim_best"} <= set(rows[0])
    videos = list((out / "videos").glob("*.mp4"))
    assert len(videos) == 1
    from bench.datasets.video_io import read_video
    from bench.runner.videos import chosen_items, video_file
    strip = read_video(videos[0])
    names = [v.name for v in synthetic_videos(3)]
    (kept,) = [v for v in synthetic_videos(3) if v.name in chosen_items(names, 1, seed=0)]  # seeded, not the first
    assert videos[0].name == video_file(kept.name)
    assert strip.shape[1:] == (64, 192, 3) and len(strip) == len(frames01(kept.path))

    runs = tracking.find_runs({"method": "copy-source", "dataset": "synthetic", "task": "reconstruction"})
    assert len(runs) == 1
    tags, metrics, params = runs[0].data.tags, runs[0].data.metrics, runs[0].data.params
    assert tags["mb.status"] == "complete" and tags["mb.num_refs"] == "2" and tags["mb.variant"] == "default"
    assert len(tags["mb.run_key"]) == 16 and tags["mb.kind"] == "eval"
    assert metrics["l1"] == pytest.approx(plain, abs=1e-6) and "l1_std" in metrics and "l1_best" in metrics
    assert params["seed"] == "0" and params["items"] == "3" and "versions.torch" in params
    assert "mlflow run" in capsys.readouterr().out


def test_copy_source_psnr_scores_every_frame_but_the_identical_source_frame(tmp_path):
    (report,) = run_quick(tmp_path, refs=0)
    pooled = []
    for video in synthetic_videos(3):
        frames = frames01(video.path)
        mse = np.array([((frames[0] - f) ** 2).mean() for f in frames])
        assert mse[0] == 0 and (mse[1:] > 0).all()  # frame 0 is the source itself: infinite PSNR, not scored
        psnr = 10 * np.log10(1.0 / mse[1:])
        pooled += list(psnr)
        assert report.results["psnr"].per_video[video.name] == pytest.approx(np.mean(psnr), rel=1e-5)
    assert report.results["psnr"].value == pytest.approx(np.mean(pooled), rel=1e-5)
    assert report.results["psnr"].extra["unscored_frames"] == 3  # one per video, no 100 dB cap
    l1 = [float(np.abs(frames01(v.path)[0] - f).mean()) for v in synthetic_videos(3) for f in frames01(v.path)]
    assert report.results["l1"].value == pytest.approx(np.mean(l1), abs=1e-6)  # frame 0 scored (0 for copy-source)
    assert report.results["l1_best"].na_reason == "best-of-references: no reference frames (--refs 0)"


def test_video_mean_convention_is_recorded_and_averages_per_video(tmp_path):
    (pooled,) = run_quick(tmp_path / "fomm", refs=0)
    (per_video,) = run_quick(tmp_path / "video", refs=0, convention="video-mean")
    assert per_video.results["l1"].per_video == pooled.results["l1"].per_video
    assert per_video.results["l1"].value == pytest.approx(np.mean(list(pooled.results["l1"].per_video.values())))
    assert summary(tmp_path / "video")["convention"]["name"] == "video-mean"
    assert summary(tmp_path / "fomm")["convention"]["name"] == "fomm"
    assert summary(tmp_path / "video")["run"]["convention"] == "video-mean"
    assert summary(tmp_path / "video")["run"]["metric_backends"] == {"l1": "none", "psnr": "none", "ssim": "none"}


class _Recorder(Metric):
    """Stand-in metric that keeps what it was given."""

    def __init__(self, target: str) -> None:
        super().__init__("cpu", target)
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def update(self, generated, target, video=""):
        self.calls.append((generated, target))

    def reset(self):
        self.calls = []

    def state(self):
        return {}


def test_animation_targets_fid_and_csim_at_the_source_and_akd_at_the_driving_frames():
    video_a, video_b = synthetic_videos(2)
    loaded = load_item(animation_items([(video_a, video_b)])[0], (64, 64), num_refs=1, seed=0)
    # each metric's target is what it declares for the animation task
    metrics = {name: _Recorder(metric_info(name).target("animation")) for name in ("fid", "csim", "akd")}
    assert [m.target for m in metrics.values()] == ["source", "source", "driving"]
    evaluator = ItemEvaluator(build_method("copy-source"), metrics, "animation", torch.device("cpu"), batch_size=5)
    evaluator.run(loaded, loaded.source, None)
    driving = torch.cat([target for _, target in metrics["akd"].calls])
    assert torch.equal(driving, loaded.driving)
    for name in ("fid", "csim"):
        for generated, target in metrics[name].calls:
            assert torch.equal(target, loaded.source.expand_as(generated))
    # a best-of candidate changes the method's input, never the target
    evaluator.run(loaded, loaded.refs[:1], None)
    generated, target = metrics["fid"].calls[0]
    assert torch.equal(generated[0], loaded.refs[0]) and torch.equal(target[0], loaded.source[0])


def test_seeded_runs_repeat_exactly(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    run_quick(first, refs=2, seed=7)
    run_quick(second, refs=2, seed=7)
    assert numbers(first) == numbers(second)
    assert (first / "per_video.csv").read_text() == (second / "per_video.csv").read_text()


class _NaNOnOne(Method):
    """copy-source that returns NaN for the video whose first frame is ``poison``."""

    poison: torch.Tensor | None = None

    def generate(self, source, driving, refs=None):
        if _NaNOnOne.poison is not None and torch.equal(source[0].cpu(), _NaNOnOne.poison):
            return torch.full_like(driving, float("nan"))
        return source.expand_as(driving).clone()


def test_nan_output_is_reported_by_name_and_never_averaged(tmp_path, monkeypatch):
    monkeypatch.setitem(METHODS._items, "nan-on-one",  # this test only
                        MethodSpec("nan-on-one", lambda config=None: _NaNOnOne()))
    videos = synthetic_videos(3)
    from bench.datasets.video_io import read_frames, to_tensor
    monkeypatch.setattr(_NaNOnOne, "poison", to_tensor(read_frames(videos[1].path, [0], (64, 64)))[0])
    (report,) = run_quick(tmp_path / "nan", method="nan-on-one", refs=0)
    got = summary(tmp_path / "nan")
    assert list(got["skipped"]) == [videos[1].name] and "NaN" in got["skipped"][videos[1].name]
    expected, _ = copy_source_l1([videos[0], videos[2]])
    assert got["means"]["l1"] == pytest.approx(expected, abs=1e-6)
    assert videos[1].name not in report.results["l1"].per_video
    assert all(np.isfinite(v) for v in got["means"].values() if v is not None)


def test_untrained_sadm_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))  # FID N/A: no Inception on CPU here
    settings = RunSettings(method="sadm", dataset="synthetic", task="all", max_videos=1, num_pairs=1,
                           metrics=["l1", "ssim", "fid"], refs=1, out=str(tmp_path), track=False, batch_size=8,
                           random_init=True)
    recon, anim = run(settings)
    assert recon.results["l1"].available and 0 < recon.results["l1"].value < 1
    assert recon.skipped == {} and anim.skipped == {} and anim.items == 1
    assert "not found" in anim.results["fid"].na_reason
    assert not any(name.endswith("_best") for name in recon.results)  # SADM fuses the references itself
    assert (tmp_path / "reconstruction" / "summary.json").is_file() and (tmp_path / "animation" / "summary.json").is_file()


def test_checkpoint_weights_are_used_and_generality_is_recorded(tmp_path, monkeypatch):
    torch.manual_seed(3)
    model = build_tiny({"channels": 4}).eval()
    path = save_checkpoint(tmp_path / "tiny.pt", method=TINY, config={"channels": 4}, model=model.state_dict(),
                           train_dataset="vox")
    out = tmp_path / "out"
    opened = []
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):
        if Path(str(file)).name == path.name if isinstance(file, (str, Path)) else False:
            opened.append(file)
        return real_open(file, *args, **kwargs)
    monkeypatch.setattr(builtins, "open", counting_open)  # torch.load(path) opens through it
    monkeypatch.setattr(io, "open", counting_open)  # Path.open / read_bytes through this one
    assert main(["run", "--method", TINY, "--dataset", "synthetic", "--checkpoint", str(path), "--task",
                 "reconstruction", "--max-videos", "2", "--metrics", "l1", "--refs", "0", "--out", str(out)]) == 0
    expected = []
    with torch.no_grad():
        for video in synthetic_videos(2):
            frames = torch.from_numpy(frames01(video.path)).float().permute(0, 3, 1, 2)
            generated = model.generate(frames[:1].expand_as(frames), frames).clamp(0, 1)
            expected.append(float((generated - frames).abs().flatten(1).mean(1).mean()))
    assert summary(out)["means"]["l1"] == pytest.approx(np.mean(expected), abs=1e-5)
    (found,) = tracking.find_runs({"method": TINY})
    assert found.data.tags["mb.train_dataset"] == "vox" and found.data.tags["mb.dataset"] == "synthetic"
    assert len(opened) == 1  # the checkpoint file is read once per run (hash, metadata and weights)
    assert found.data.params["checkpoint_sha256"] == file_sha256(path)


def test_checkpoint_of_another_method_fails_before_compute(tmp_path, monkeypatch, capsys):
    path = save_checkpoint(tmp_path / "tiny.pt", method=TINY, config={}, model=build_tiny().state_dict())
    _no_compute(monkeypatch)
    code = main(["run", "--method", "copy-source", "--dataset", "synthetic", "--checkpoint", str(path),
                 "--no-track", "--out", str(tmp_path / "out")])
    assert code == 2 and f"is for method '{TINY}'" in capsys.readouterr().err


def test_set_changes_that_do_not_fit_the_checkpoint_name_the_keys(tmp_path, monkeypatch, capsys):
    """Issue 25: the one-line error keeps the informative part (which keys differ), not just the torch preamble."""
    path = save_checkpoint(tmp_path / "tiny.pt", method=TINY, config={"channels": 4},
                           model=build_tiny({"channels": 4}).state_dict())
    _no_compute(monkeypatch)
    code = main(["run", "--method", TINY, "--dataset", "synthetic", "--checkpoint", str(path), "--set", "channels=5",
                 "--no-track", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "the --set/--refs changes do not fit checkpoint" in err
    assert "of another shape, e.g. 'body.0.weight' (4, 6, 3, 3) vs (5, 6, 3, 3)" in err


def test_unreachable_tracking_server_fails_before_compute(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    _no_compute(monkeypatch)
    code = main(["run", "--method", "copy-source", "--dataset", "synthetic", "--max-videos", "1",
                 "--out", str(tmp_path / "out")])
    assert code == 2 and "cannot be reached" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_metric_weights_are_na_unless_strict(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    (report,) = run_quick(tmp_path / "lenient", metrics=["l1", "lpips"])
    assert report.results["l1"].available
    assert "alexnet" in report.results["lpips"].na_reason and report.results["lpips"].value is None
    assert "lpips" in summary(tmp_path / "lenient")["na_reasons"]
    _no_compute(monkeypatch)
    code = main(["run", "--method", "copy-source", "--dataset", "synthetic", "--metrics", "l1,lpips", "--strict",
                 "--task", "reconstruction", "--no-track", "--out", str(tmp_path / "strict")])
    assert code == 2 and "alexnet-owt-7be5be79.pth" in capsys.readouterr().err


def test_metric_outside_the_task_is_refused(capsys):
    assert main(["run", "--method", "copy-source", "--dataset", "synthetic", "--task", "animation",
                 "--metrics", "l1", "--no-track"]) == 2
    assert "not part of the animation protocol" in capsys.readouterr().err


@pytest.fixture
def real_face(shared_dir, monkeypatch):
    """The real talking-head clips of ../shared as a dataset at 64x64, registered for one test only."""
    name = "real-face-test"
    spec = DatasetSpec(name=name, title="real face clips", domain="face", frame_size=(64, 64), test_count=None,
                       train_count=None, identity_rule="before-hash", min_frames=4, default_root=str(shared_dir / "data/real/face"))
    monkeypatch.setitem(DATASETS._items, name, spec)
    return name, shared_dir / "data/real/face"


def test_real_clips_reconstruction(tmp_path, real_face, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    name, root = real_face
    (report,) = run(RunSettings(method="copy-source", dataset=name, root=str(root), task="reconstruction",
                                metrics=["l1", "psnr", "akd"], refs=3, out=str(tmp_path), track=False))
    spec = DATASETS.get(name)
    videos = list_videos(root, "test", spec)
    assert len(videos) == 2 and report.items == 2
    plain, best = copy_source_l1(videos, refs=3)
    assert report.results["l1"].value == pytest.approx(plain, abs=1e-6)
    assert report.results["l1_best"].value == pytest.approx(best, abs=1e-6)
    assert report.results["akd"].value is None and "not found" in report.results["akd"].na_reason


def test_reconstruction_fid_reuses_cached_real_statistics(tmp_path, monkeypatch):
    net = use_cheap_inception(monkeypatch)
    videos = synthetic_videos(2)
    frames = sum(len(frames01(v.path)) for v in videos)
    (first,) = run_quick(tmp_path / "a", max_videos=2, metrics=["fid"], refs=0)
    assert net.frames == 2 * frames  # generated and real frames
    assert first.results["fid"].value > 0
    net.frames = 0
    (second,) = run_quick(tmp_path / "b", max_videos=2, metrics=["fid"], refs=0)
    assert net.frames == frames  # real statistics came from the cache
    assert second.results["fid"].value == first.results["fid"].value


def test_animation_fid_against_each_distinct_source_once_and_best_of_references_by_fid(tmp_path, monkeypatch):
    from scipy import linalg

    from bench.datasets import get_dataset, resolve_root
    from bench.datasets.video_io import read_frames, to_tensor
    from bench.runner.plan import task_items

    net = use_cheap_inception(monkeypatch)
    settings = RunSettings(method="copy-source", dataset="synthetic", task="animation", max_videos=3,
                           metrics=["fid"], refs=2, out=str(tmp_path), track=False)
    (report,) = run(settings)
    spec = get_dataset("synthetic")
    items = task_items(spec, resolve_root(spec), "animation", settings.pairs, settings.num_pairs, settings.seed,
                       settings.max_videos)
    features = {}
    with torch.no_grad():
        for item in items:  # copy-source's output is its source image, on every driving frame
            source = to_tensor(read_frames(item.source.path, [0], (64, 64)))
            features[item.source.name] = net(source)[0].flatten(1).double().numpy()[0]
    generated = np.stack([features[i.source.name] for i in items for _ in range(len(frames01(i.driving.path)))])
    real = np.stack(list(features.values()))  # one real image per distinct source
    mu1, mu2 = generated.mean(0), real.mean(0)
    s1, s2 = np.cov(generated, rowvar=False), np.cov(real, rowvar=False)
    expected = float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real))
    result = report.results["fid"]
    assert result.extra["real_frames"] == len(features) < len(items) + 1 and result.extra["generated_frames"] == len(generated)
    assert result.value == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert report.results["fid_best"].value > 1e-6  # candidates use a reference frame as the source


def test_official_fomm_checkpoint(tmp_path, shared_dir):
    """An official-format FOMM checkpoint (the fixture's weights) loads and is what the run evaluates."""
    fixture = torch.load(shared_dir / "reference/fixtures/fomm-face.pt", weights_only=False)
    checkpoint = tmp_path / "fomm.pth.tar"
    torch.save({**fixture["state_dict"], "epoch": 99}, checkpoint)
    (tmp_path / "fomm.yaml").write_text(yaml.safe_dump({"model_params": fixture["model_params"]}))
    out = tmp_path / "out"
    assert main(["run", "--method", "fomm", "--official", "fomm", "--checkpoint", str(checkpoint), "--config",
                 str(tmp_path / "fomm.yaml"), "--dataset", "synthetic", "--task", "reconstruction", "--max-videos",
                 "1", "--refs", "0", "--metrics", "l1", "--no-track", "--out", str(out)]) == 0
    model = build_method("fomm", fixture["model_params"], fixture["state_dict"], official=True)
    video = synthetic_videos(1)[0]
    frames = torch.from_numpy(frames01(video.path)).float().permute(0, 3, 1, 2)
    with torch.no_grad():
        generated = model.generate(frames[:1].expand_as(frames), frames).clamp(0, 1)
    expected = float((generated - frames).abs().flatten(1).mean(1).mean())
    assert summary(out)["means"]["l1"] == pytest.approx(expected, abs=1e-5)
    assert summary(out)["run"]["checkpoint_sha256"] == file_sha256(checkpoint)


def test_official_flag_is_checked_against_the_method_and_the_file(tmp_path, capsys):
    ours = tmp_path / "ours.pt"
    save_checkpoint(ours, method=TINY, config={"channels": 4}, model=build_tiny({"channels": 4}).state_dict())
    common = ["--dataset", "synthetic", "--task", "reconstruction", "--no-track", "--out", str(tmp_path / "o")]
    assert main(["run", "--method", "copy-source", "--official", "--checkpoint", str(ours), *common]) == 2
    assert "has no official checkpoint format (methods with one: fomm, mraa" in capsys.readouterr().err
    assert main(["run", "--method", "fomm", "--official", "--checkpoint", str(ours), *common]) == 2
    assert "is a motionbench checkpoint, not an official one: drop --official" in capsys.readouterr().err
    assert main(["run", "--method", "fomm", "--official", "mraa", "--checkpoint", str(ours), *common]) == 2
    assert "--official mraa does not name --method fomm" in capsys.readouterr().err


def test_config_a_method_rejects_is_a_user_error(capsys):
    assert main(["run", "--method", "copy-source", "--dataset", "synthetic", "--set", "x=1", "--no-track"]) == 2
    assert "cannot be built from its config: copy-source takes no configuration" in capsys.readouterr().err


def test_strict_fails_on_an_animation_metric_before_reconstruction_computes(tmp_path, real_face, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no insightface models either
    _no_compute(monkeypatch)
    name, root = real_face
    first, second = sorted(p.name for p in (root / "test").iterdir())
    pairs = tmp_path / "pairs.csv"  # the clips share one identity, so pairs come from a FOMM pairs file
    pairs.write_text(f"distance,source,driving,frame\n0,{first},{second},0\n")
    code = main(["run", "--method", "copy-source", "--dataset", name, "--root", str(root), "--task", "all",
                 "--pairs", str(pairs), "--metrics", "l1,csim", "--strict", "--no-track", "--out", str(tmp_path / "out")])
    assert code == 2 and "w600k_r50.onnx' not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_default_output_folder_resumes_the_same_command_and_separates_others(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (first,) = run_quick(None, max_videos=1, refs=1)
    (again,) = run_quick(None, max_videos=1, refs=1)
    (other,) = run_quick(None, max_videos=1, refs=2)
    assert again.out_dir == first.out_dir and again.computed == 0
    assert other.out_dir != first.out_dir and other.computed == 1
    assert first.out_dir.parent == Path("runs/synthetic") and first.out_dir.name.startswith("copy-source-default-")
    assert (tmp_path / first.out_dir / "summary.json").is_file()


@pytest.mark.parametrize("method", ["fomm", "mraa", "tpsmm", "sadm"])
def test_model_layouts_give_the_same_numbers_and_the_layout_is_recorded(tmp_path, method):
    """--memory-format changes how the convolutions run, not the protocol: channels-last and NCHW runs of the
    same random-weight model give the same per-video numbers (float rounding apart), and summary.json
    records the layout asked for and the one used (auto is channels-last on the CPU)."""
    reports = {}
    for layout in ("contiguous", "auto"):
        torch.manual_seed(0)
        (reports[layout],) = run_quick(tmp_path / layout, method=method, random_init=True, max_videos=1, refs=0, metrics=["l1", "psnr"],
                                       memory_format=layout)
    for name in ("l1", "psnr"):
        per_video = reports["contiguous"].results[name].per_video
        assert reports["auto"].results[name].per_video == pytest.approx(per_video, rel=1e-5)
    assert summary(tmp_path / "auto")["run"]["memory_format"] == "auto"
    assert summary(tmp_path / "auto")["run"]["memory_format_used"] == "channels-last"
    assert summary(tmp_path / "contiguous")["run"]["memory_format_used"] == "contiguous"


def test_the_planned_model_is_in_the_layout_asked_for(tmp_path):
    """The run's model holds its convolution weights in the resolved layout (NHWC strides for channels-last)."""
    for layout, nhwc in (("channels-last", True), ("contiguous", False), ("auto", True)):  # auto: on the CPU
        plan = plan_run(quick_settings(tmp_path / layout, method="fomm", random_init=True, max_videos=1, refs=0,
                                       memory_format=layout))
        weights = [p for p in plan.method.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[-1] > 1]
        assert weights and all(w.is_contiguous(memory_format=torch.channels_last) == nhwc for w in weights)
        assert all(w.is_contiguous() != nhwc for w in weights)
