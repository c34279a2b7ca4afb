"""``bench evaluate`` end to end on temporary folders; ``bench metrics list``; ``bench perf metrics``."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.cli import main
from bench.metrics.evaluation import video_key
from tests.reference import pose_evaluation_folders

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def _frames(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))]


@pytest.fixture
def folders(tmp_path):
    """real/test with two frame-folder videos; generated as FOMM png strips (one exact, one noisy,
    one with a frame missing, one without a real counterpart)."""
    if not REAL.is_dir():
        pytest.skip(f"shared real frames not found at {REAL}")
    real_test = tmp_path / "real" / "test"
    real_test.mkdir(parents=True)
    names = sorted(p.name for p in (REAL / "body" / "test").iterdir())
    generated = tmp_path / "generated"
    generated.mkdir()
    rng = np.random.default_rng(0)
    for index, name in enumerate(names):
        target = real_test / name
        target.mkdir()
        for frame in sorted((REAL / "body" / "test" / name).glob("*.png"))[:6]:
            shutil.copy(frame, target / frame.name)
        frames = _frames(target)
        if index == 1:
            frames = [np.clip(f + rng.normal(0, 12, f.shape), 0, 255).astype(np.uint8) for f in frames]
        Image.fromarray(np.concatenate(frames, axis=1)).save(generated / f"{name}.png")
    first = _frames(real_test / names[0])
    Image.fromarray(np.concatenate(first[:5], axis=1)).save(generated / "short.png")
    (real_test / "short").mkdir()
    for i, frame in enumerate(first):
        Image.fromarray(frame).save(real_test / "short" / f"{i:04d}.png")
    Image.fromarray(np.concatenate(first, axis=1)).save(generated / "orphan.png")
    return tmp_path / "real", generated, names


def test_evaluate_writes_per_video_csv_and_summary(folders, tmp_path, capsys):
    real, generated, names = folders
    out = tmp_path / "out"
    code = main(["evaluate", "--real", str(real), "--generated", str(generated), "--metrics", "l1,psnr,ssim,ms_ssim,akd",
                 "--out", str(out), "--device", "cpu", "--batch-size", "4"])
    assert code == 0, capsys.readouterr().err
    with (out / "per_video.csv").open() as handle:
        rows = {row["video"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(names)
    assert list(next(iter(rows.values()))) == ["video", "l1", "l1_frames", "psnr", "psnr_frames", "ssim",
                                                "ssim_frames", "ms_ssim", "ms_ssim_frames", "akd"]
    exact, noisy = rows[names[0]], rows[names[1]]
    assert float(exact["l1"]) == 0.0 and float(exact["ssim"]) == pytest.approx(1.0)
    assert 0 < float(noisy["l1"]) < 0.1 and float(noisy["ssim"]) < 1.0
    assert exact["akd"] == ""  # not applicable without a face/body domain
    summary = json.loads((out / "summary.json").read_text())
    assert summary["means"]["l1"] == pytest.approx(float(noisy["l1"]) / 2)
    # the pooled mean follows from the file: sum of value x scored frames over the scored frames
    pooled = sum(float(r["l1"]) * int(r["l1_frames"]) for r in rows.values()) / sum(int(r["l1_frames"]) for r in rows.values())
    assert pooled == pytest.approx(summary["means"]["l1"], rel=1e-12)
    assert exact["psnr"] == exact["psnr_frames"] == ""  # identical frames are not scored
    low, high = summary["ci"]["l1"]
    assert low <= summary["means"]["l1"] <= high and summary["ci_method"]["method"] == "percentile"
    assert summary["means"]["akd"] is None and "domain" in summary["na_reasons"]["akd"]
    assert summary["counts"]["videos"] == 2 and summary["counts"]["skipped"] == 2
    assert "5 frames" in summary["skipped"]["short"] and "6 frames" in summary["skipped"]["short"]
    assert "no real video" in summary["skipped"]["orphan"]


def test_evaluate_identity_against_sources_with_dlib(tmp_path, capsys):
    if not REAL.is_dir():
        pytest.skip(f"shared real frames not found at {REAL}")
    from bench.datasets.video_io import read_video

    real_test = tmp_path / "real" / "test"
    real_test.mkdir(parents=True)
    generated = tmp_path / "generated"
    generated.mkdir()
    frames = read_video(REAL / "face" / "test" / "tpsdemo#000000#000039.mp4")[:2]
    for name in ("a", "b"):
        (real_test / name).mkdir()
        for i, frame in enumerate(frames):
            Image.fromarray(frame).save(real_test / name / f"{i}.png")
        Image.fromarray(np.concatenate(list(frames), axis=1)).save(generated / f"{name}.png")
    Image.fromarray(frames[0]).save(tmp_path / "same.png")
    sources = tmp_path / "sources.csv"
    sources.write_text(f"generated,source_image\na.png,same.png\nb.png,{REAL / 'face' / 'sources' / 'tps_source.png'}\n")
    out = tmp_path / "out"
    code = main(["evaluate", "--real", str(tmp_path / "real"), "--generated", str(generated), "--metrics", "csim",
                 "--domain", "face", "--backend", "csim=dlib", "--sources", str(sources), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    per_video = {row["video"]: float(row["csim"]) for row in csv.DictReader((out / "per_video.csv").open())}
    assert per_video["a"] > per_video["b"]


def test_evaluate_column_scores_one_image_of_side_by_side_outputs(tmp_path, capsys):
    """Generated frame folders of source | prediction | driving (non-square frames): --column 1 scores the
    prediction, as extract.py --column 1; without it the wider frames are reported and skipped."""
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (3, 24, 40, 3), dtype=np.uint8)
    (tmp_path / "real" / "v").mkdir(parents=True)
    (tmp_path / "gen" / "v").mkdir(parents=True)
    for i, frame in enumerate(real):
        Image.fromarray(frame).save(tmp_path / "real" / "v" / f"{i:03d}.png")
        side_by_side = np.concatenate([255 - frame, frame, frame // 2], axis=1)
        Image.fromarray(side_by_side).save(tmp_path / "gen" / "v" / f"{i:03d}.png")
    args = ["evaluate", "--real", str(tmp_path / "real"), "--generated", str(tmp_path / "gen"), "--metrics", "l1",
            "--device", "cpu"]
    assert main(args + ["--column", "1", "--out", str(tmp_path / "o1")]) == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "o1" / "summary.json").read_text())["means"]["l1"] == 0.0
    assert main(args + ["--out", str(tmp_path / "o")]) == 0
    assert "120x24" in json.loads((tmp_path / "o" / "summary.json").read_text())["skipped"]["v"]
    assert main(args + ["--column", "-1", "--out", str(tmp_path / "o")]) == 2


def test_evaluate_user_errors_are_one_line(tmp_path, capsys):
    assert main(["evaluate", "--real", str(tmp_path / "missing"), "--generated", str(tmp_path), "--metrics", "l1",
                 "--out", str(tmp_path / "o")]) == 2
    assert main(["evaluate", "--real", str(tmp_path), "--generated", str(tmp_path), "--metrics", "l1,bogus",
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "not found" in err[0] and "unknown metric 'bogus'" in err[1]


def test_video_key_matches_fomm_output_names():
    assert video_key("id10001#abc#000.mp4.png") == video_key("id10001#abc#000.mp4") == "id10001#abc#000"
    assert video_key("teddemo#000000#000023") == "teddemo#000000#000023"
    assert video_key("horse.gif") == "horse"


def test_metrics_list_shows_the_declared_facts_and_weight_status(tmp_path, capsys):
    from bench.metrics import METRICS

    (tmp_path / "pt_inception-2015-12-05-6726825d.pth").write_bytes(b"")  # found in --weights-dir
    assert main(["metrics", "list", "--weights-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    for name in METRICS.ordered():  # every metric, with its declared label, direction and reference
        info = METRICS.get(name).info
        assert info.label in rows[name] and f" {info.direction} " in rows[name]
        assert f"  {name}: {info.reference}" in out
    assert "fan (default: face)" in rows["akd"] and "openpose (default: body)" in out
    assert "reid-resnet50 (default: body)" in out
    assert "inception" in rows["fid"] and rows["fid"].rstrip().endswith("present")
    assert "none needed" in rows["l1"] and "animation (vs source image, on request)" in rows["aed"]


def test_perf_metrics_prints_throughput_and_ratio(capsys):
    assert main(["perf", "metrics", "--metrics", "l1,ssim", "--frames", "2"]) == 0
    out = capsys.readouterr().out
    assert "frames/s" in out and "speed-up" in out and "ms_ssim" in out


def test_animation_fid_of_bench_evaluate_with_sources_equals_bench_run(tmp_path, monkeypatch):
    """The same copy-source animations scored by bench run and, written as FOMM png strips with a
    sources CSV, by bench evaluate: the same FID (real set: each distinct source image once)."""
    from bench.datasets import get_dataset, resolve_root
    from bench.datasets.video_io import read_frames, read_video
    from bench.runner import RunSettings, run
    from bench.runner.plan import task_items
    from tests.run_support import use_cheap_inception

    use_cheap_inception(monkeypatch)
    settings = RunSettings(method="copy-source", dataset="synthetic", task="animation", num_pairs=12,
                           metrics=["fid"], refs=0, out=str(tmp_path / "run"), track=False)
    spec = get_dataset("synthetic")
    items = task_items(spec, resolve_root(spec), "animation", settings.pairs, settings.num_pairs, settings.seed,
                       settings.max_videos)
    by_driving = {item.driving.name: item for item in items}  # evaluate pairs outputs with real videos by name
    chosen = list(by_driving.values())[:4]
    settings.pairs = str(tmp_path / "pairs.csv")
    with open(settings.pairs, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["distance", "source", "driving", "frame"])
        writer.writerows([0, i.source.name, i.driving.name, 0] for i in chosen)
    (report,) = run(settings)

    generated, real_test = tmp_path / "generated", tmp_path / "real" / "test"
    generated.mkdir()
    real_test.mkdir(parents=True)
    rows = []
    for item in chosen:
        source = read_frames(item.source.path, [0], spec.frame_size)[0]
        driving = read_video(item.driving.path, spec.frame_size)
        Image.fromarray(np.concatenate([source] * len(driving), axis=1)).save(generated / f"{item.driving.name}.png")
        Image.fromarray(source).save(tmp_path / f"{item.source.name}.png")
        shutil.copytree(item.driving.path, real_test / item.driving.name)
        rows.append([f"{item.driving.name}.png", str(tmp_path / f"{item.source.name}.png")])
    with open(tmp_path / "sources.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([["generated", "source_image"], *rows])
    assert main(["evaluate", "--real", str(tmp_path / "real"), "--generated", str(generated), "--metrics", "fid",
                 "--sources", str(tmp_path / "sources.csv"), "--out", str(tmp_path / "eval")]) == 0
    evaluated = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert evaluated["extra"]["fid"]["real_frames"] == len({i.source.name for i in chosen}) < len(chosen)
    assert evaluated["means"]["fid"] == pytest.approx(report.results["fid"].value, rel=1e-6)


def _video_cases() -> list[tuple[Path, dict]]:
    """frames2array fixture cases that read a video right (the output equals its source frames)."""
    return [(folder, case) for folder in pose_evaluation_folders("frames2array_cases.json")
            for case in json.loads((folder / "frames2array_cases.json").read_text())["cases"]
            if case["call"]["is_video"] and case["result"].get("equals_source_frames")]


@pytest.mark.parametrize("item", _video_cases(), ids=lambda item: f"{item[0].parent.name}:{item[1]['case']}")
def test_generated_videos_are_read_as_frames2array_reads_them(item):
    """pose-evaluation's frames2array outputs (../shared and local fixtures) on every video kind: strips split
    into frames of the real size; folders and gifs read whole, or cut to a column of the real width."""
    from bench.metrics.evaluation import read_generated

    folder, case = item
    call = case["call"]
    with np.load(folder / "frames2array_cases.npz") as data:
        expected = data[f"{case['case']}::output"]
    path = folder / call["file"]
    if path.is_file() and path.suffix in (".png", ".jpg"):
        width, height = call["image_shape"]  # a strip splits right with (W, H) ...
        got = read_generated(path, (height, width))
        assert got.shape[1:3] == (height, width)
        np.testing.assert_array_equal(got[:, :, :height], expected)  # ... and frames2array then cuts to width H
    else:
        got = read_generated(path, expected.shape[1:3], column=call["column"])
        np.testing.assert_array_equal(got, expected)
