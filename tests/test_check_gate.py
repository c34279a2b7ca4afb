"""bench check: regression -> exit 1, improvement / within tolerance -> 0, missing -> 1, --update."""
from __future__ import annotations

import pytest

from bench.cli import main
from bench.reports.gate import Baseline, Tolerance, compare, load_baseline
from tests.test_report_tables import log_run, runs_env, store_uri  # noqa: F401  (fixtures)

KEY = ("fomm", "synthetic", "reconstruction", "default")


def _baseline(metrics: dict[str, float], **per_metric: Tolerance) -> Baseline:
    return Baseline(Tolerance(abs=0.0, rel=0.05), dict(per_metric), {KEY: metrics})


@pytest.mark.parametrize("current,status", [
    ({"l1": 0.0520}, "within"),       # +4%, inside 5%
    ({"l1": 0.0530}, "regression"),   # +6%, lower is better
    ({"l1": 0.0400}, "improved"),
    ({"l1": 0.0500}, "same"),
    ({}, "missing"),
])
def test_compare_lower_is_better(current, status):
    report = compare(_baseline({"l1": 0.05}), {KEY: current} if current else {})
    assert report["status"].tolist() == [status]


def test_direction_and_tolerances_per_metric():
    base = _baseline({"psnr": 20.0, "fid": 100.0, "l1_best": 0.05}, fid=Tolerance(abs=10.0))
    report = compare(base, {KEY: {"psnr": 18.0, "fid": 109.0, "l1_best": 0.06}})
    status = dict(zip(report["metric"], report["status"]))
    assert status == {"psnr": "regression", "fid": "within", "l1_best": "regression"}
    report = compare(base, {KEY: {"psnr": 22.0, "fid": 89.0, "l1_best": 0.04}})
    assert set(report["status"]) == {"improved"}


def test_check_cli_update_then_gate(runs_env, tmp_path, capsys):
    log_run("fomm", "synthetic", "reconstruction", {"l1": 0.05, "l1_std": 0.01, "psnr": 20.0, "fps": 3.0},
            na={"akd": "no detector"})
    log_run("copy-source", "synthetic", "animation", {"fid": 100.0, "csim": 0.5})
    path = tmp_path / "baseline.yaml"
    assert main(["check", "--baseline", str(path)]) == 2  # no baseline yet: one-line user error
    assert main(["check", "--baseline", str(path), "--update"]) == 0
    baseline = load_baseline(path)
    assert baseline.runs == {KEY: {"l1": 0.05, "psnr": 20.0},  # no std, no timing metric
                             ("copy-source", "synthetic", "animation", "default"): {"csim": 0.5, "fid": 100.0}}
    assert main(["check", "--baseline", str(path)]) == 0

    # a newer run that is worse beyond tolerance fails the gate and is printed
    log_run("fomm", "synthetic", "reconstruction", {"l1": 0.06, "psnr": 20.1})
    capsys.readouterr()
    assert main(["check", "--baseline", str(path)]) == 1
    out = capsys.readouterr().out
    assert "regression" in out and "| l1 |" in out and "FAIL" in out
    assert "| psnr |" in out  # moved within tolerance: listed too

    # tolerances survive --update; the new numbers become the reference
    text = path.read_text().replace("rel: 0.05", "rel: 0.5")
    path.write_text(text)
    assert main(["check", "--baseline", str(path)]) == 0  # +20% inside 50%
    assert main(["check", "--baseline", str(path), "--update"]) == 0
    updated = load_baseline(path)
    assert updated.default.rel == 0.5 and updated.runs[KEY]["l1"] == 0.06


def test_missing_run_fails(runs_env, tmp_path):
    path = tmp_path / "baseline.yaml"
    path.write_text("runs:\n  - {method: sadm, dataset: synthetic, task: animation, variant: default,"
                    " metrics: {fid: 50.0}}\n")
    assert main(["check", "--baseline", str(path)]) == 1
