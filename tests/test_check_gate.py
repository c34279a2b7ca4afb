"""bench check: the paired, per-video regression gate (its rule, its baseline file, its command)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.metrics.bootstrap import IntervalSpec
from bench.reports.gate import Entry, compare_metric, load_baseline
from tests.test_report_tables import log_run, runs_env, store_uri  # noqa: F401  (fixtures)

KEY = ("fomm", "synthetic", "reconstruction", "default")
SETTINGS = {"convention": "fomm", "precision": "fp64", "num_refs": "3", "seed": "0", "items": "abc", "backends": "none"}
SPEC = IntervalSpec(resamples=2000)


def _per_video(values: np.ndarray, frames: np.ndarray, metric: str = "l1") -> pd.DataFrame:
    return pd.DataFrame({"video": [f"v{i}" for i in range(len(values))], metric: values,
                         f"{metric}_frames": frames})


def _entry(values: np.ndarray, frames: np.ndarray, metric: str = "l1") -> Entry:
    table = _per_video(values, frames, metric)
    pooled = float((values * frames).sum() / frames.sum())
    videos = {row["video"]: {metric: row[metric], f"{metric}_frames": int(row[f"{metric}_frames"])}
              for _, row in table.iterrows()}
    return Entry(dict(SETTINGS), {metric: pooled}, videos)


def _status(base: np.ndarray, current: np.ndarray, metric: str = "l1", rel: float = 0.01) -> dict:
    frames = np.arange(20, 20 + len(base))
    entry = _entry(base, frames, metric)
    table = _per_video(current, frames, metric)
    pooled = float((current * frames).sum() / frames.sum())
    allowed = rel * abs(entry.metrics[metric])
    return compare_metric(entry, metric, pd.Series({metric: pooled}), table, allowed, SPEC)


BASE = np.random.default_rng(0).uniform(0.05, 0.15, 12)


@pytest.mark.parametrize("factor,status", [(1.0, "same"), (1.003, "within"), (1.05, "regression"), (0.95, "improved")])
def test_every_video_moving_together(factor, status):
    assert _status(BASE, BASE * factor)["status"] == status


def test_psnr_direction_is_higher_better():
    base = np.random.default_rng(1).uniform(15, 20, 8)
    assert _status(base, base - 0.5, "psnr")["status"] == "regression"
    assert _status(base, base + 0.5, "psnr")["status"] == "improved"


def test_a_change_whose_interval_reaches_inside_the_tolerance_is_not_a_regression():
    """Pooled L1 up by about 4% (beyond the 1% tolerance) but from opposite per-video moves: the paired
    interval of the change spans the tolerance, so it is not flagged."""
    noise = np.where(np.arange(12) % 2 == 0, 1.6, 0.5)
    line = _status(BASE, BASE * noise)
    assert line["delta"] > 0.01 * line["baseline"] and line["ci_low"] < line["allowed"]
    assert line["status"] == "within"


def test_missing_videos_and_metrics_without_per_video_values():
    entry = _entry(BASE, np.full(12, 20))
    partial = _per_video(BASE[:-1], np.full(11, 20))
    assert compare_metric(entry, "l1", pd.Series({"l1": 0.1}), partial, 0.001, SPEC)["status"] == "missing"
    fid = Entry(dict(SETTINGS), {"fid": 100.0})  # FID: no per-video values, the dataset values decide
    assert compare_metric(fid, "fid", pd.Series({"fid": 112.0}), None, 10.0, SPEC)["status"] == "regression"
    assert compare_metric(fid, "fid", pd.Series({"fid": 105.0}), None, 10.0, SPEC)["status"] == "within"


@pytest.mark.parametrize("text,message", [
    ("runs:\n  - {method: fomm, dataset: synthetic, task: reconstruction, variant: default, metrics: {l1: .nan}}\n",
     "'l1' must be a finite number"),
    ("runs:\n  - {method: [fomm], dataset: synthetic, task: reconstruction, variant: default, metrics: {l1: 1}}\n",
     "runs[0]: 'method' must be a name"),
    ("tolerance: {rel: -1}\nruns: []\n", "tolerances must be finite numbers >= 0"),
    ("runs:\n  - {method: fomm, dataset: s, task: reconstruction, variant: default, metrics: {l1: 1},"
     " videos: {v0: {l1: .inf}}}\n", "videos.v0: 'l1' must be a finite number"),
])
def test_nonsense_baselines_are_one_line_errors(tmp_path, capsys, text, message, runs_env):
    path = tmp_path / "baseline.yaml"
    path.write_text(text)
    assert main(["check", "--baseline", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def _log(values: np.ndarray, frames: np.ndarray, **tags: str) -> str:
    pooled = float((values * frames).sum() / frames.sum())
    return log_run("fomm", "synthetic", "reconstruction", {"l1": pooled}, per_video=_per_video(values, frames),
                   **{k: v for k, v in {**SETTINGS, **tags}.items() if k not in ("seed", "num_refs")})


def test_check_cli_update_then_gate(runs_env, tmp_path, capsys):
    frames = np.arange(20, 32)
    _log(BASE, frames)
    path = tmp_path / "baseline.yaml"
    assert main(["check", "--baseline", str(path)]) == 2  # no baseline yet: one-line user error
    assert main(["check", "--baseline", str(path), "--update"]) == 0
    entry = load_baseline(path).runs[KEY]
    assert entry.settings == SETTINGS and entry.videos["v3"] == {"l1": BASE[3], "l1_frames": 23}
    assert main(["check", "--baseline", str(path)]) == 0

    _log(BASE * 1.05, frames, weights="random-init")  # an untrained model's run is never compared
    assert main(["check", "--baseline", str(path)]) == 0
    _log(BASE * 1.05, frames, precision="fp32")  # another protocol: not this entry's run, still passes
    assert main(["check", "--baseline", str(path)]) == 0

    _log(BASE * 1.05, frames)  # every video 5% worse: a regression
    capsys.readouterr()
    assert main(["check", "--baseline", str(path)]) == 1
    out = capsys.readouterr().out
    assert "regression" in out and "| l1 |" in out and "FAIL" in out

    text = path.read_text().replace("rel: 0.01", "rel: 0.5")  # tolerances survive --update
    path.write_text(text)
    assert main(["check", "--baseline", str(path)]) == 0
    assert main(["check", "--baseline", str(path), "--update"]) == 0
    assert load_baseline(path).default.rel == 0.5


def test_entry_without_a_run_of_its_settings_is_missing(runs_env, tmp_path, capsys):
    _log(BASE, np.full(12, 20), precision="fp32")
    path = tmp_path / "baseline.yaml"
    path.write_text("source: bench demo --quick\nruns:\n  - {method: fomm, dataset: synthetic, task: reconstruction,"
                    " variant: default, settings: {precision: fp64}, metrics: {l1: 0.1}}\n")
    assert main(["check", "--baseline", str(path)]) == 1
    assert "the baseline comes from: bench demo --quick" in capsys.readouterr().out
