"""Comparisons a reviewer can trust: untrained models stay out, rows never mix protocols, marks are significant."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.reports.render import to_frame, to_latex, to_markdown
from bench.reports.runs import load_runs
from bench.reports.tables import build_table
from tests.test_report_tables import RECON, log_run, runs_env, store_uri  # noqa: F401  (fixtures)

DEMO = {"items": "demo3", "invocation": "demo", "precision": "fp32", "convention": "fomm", "backends": "none"}
SWEEP = {**DEMO, "items": "sweep2", "invocation": "sweep"}


def _row(table, label):
    return next(r for g in table.groups for r in g.rows if r.label == label)


def test_a_small_nview_sweep_never_enters_table1_or_mixes_rows(runs_env):
    """The issue's case: the demo (N = 3, 3 videos, both tasks), then an N = 1, 2 sweep on 2 videos (reconstruction)."""
    for method in ("fomm", "sadm"):
        log_run(method, "synthetic", "reconstruction", {**RECON, "videos": 3}, **DEMO)
        log_run(method, "synthetic", "animation", {"fid": 90.0, "csim": 0.5}, **DEMO)
    for n in (1, 2):
        log_run("sadm", "synthetic", "reconstruction", {**RECON, "l1": 0.01 * n, "videos": 2}, num_refs=n, **SWEEP)
    runs = load_runs()
    table1 = build_table("table1", runs)
    sadm = _row(table1, "SADM")
    assert sadm.cells[("reconstruction", "l1")].value == RECON["l1"]  # the N = 3 demo run, not the newer sweep
    assert {run["invocation"] for run in sadm.runs.values()} == {"demo"} and not sadm.mixed
    assert table1.groups[0].lines == ["Synthetic articulated figures", "(3 of 8)"]
    nviews = build_table("nviews", runs)
    rows = {r.label: r for g in nviews.groups for r in g.rows}
    # reconstruction: the sweep's protocol (2 videos) covers the most rows; the demo's N = 3 run is left out,
    # so its animation run stands alone in its row instead of completing the N = 1 row
    assert {n: set(r.runs) for n, r in rows.items()} == {"1": {"reconstruction"}, "2": {"reconstruction"},
                                                         "3": {"animation"}}
    assert nviews.groups[0].lines[0].endswith("(2 of 8)") and nviews.left_out == 1


def test_newest_run_of_the_protocol_fills_a_cell_and_is_named(runs_env):
    log_run("fomm", "synthetic", "reconstruction", {**RECON, "l1": 0.07}, **DEMO)
    newest = log_run("fomm", "synthetic", "reconstruction", {**RECON, "l1": 0.06}, **DEMO)
    other = {**DEMO, "items": "other", "invocation": "x"}
    log_run("fomm", "synthetic", "animation", {"fid": 90.0, "csim": 0.5}, **other)
    table = build_table("table1", load_runs())
    row = _row(table, "FOMM")
    assert row.cells[("reconstruction", "l1")].value == 0.06 and row.runs["reconstruction"]["run_id"] == newest
    assert row.mixed  # reconstruction and animation from different bench run calls
    frame = to_frame(table)
    assert frame["run_id.reconstruction"].tolist() == [newest] and frame["mixed_runs"].tolist() == [True]
    assert "FOMM †" in to_markdown(table) and "different bench run calls" in to_latex(table)
    assert f"Rec. {newest[:8]}" in to_latex(table)


def test_random_init_runs_stay_out_unless_asked(runs_env, capsys):
    log_run("fomm", "synthetic", "reconstruction", RECON, weights="random-init", **{k: v for k, v in DEMO.items()})
    assert load_runs().empty and len(load_runs(random_init=True)) == 1
    assert main(["report", "table1"]) == 2  # nothing trained to show
    capsys.readouterr()
    assert main(["report", "table1", "--random-init"]) == 0
    assert "FOMM" in capsys.readouterr().out


def _per_video(values: np.ndarray, frames: int = 20) -> pd.DataFrame:
    return pd.DataFrame({"video": [f"v{i}" for i in range(len(values))], "l1": values, "l1_frames": frames})


def _marks(runs_env, fomm: np.ndarray, sadm: np.ndarray):
    for method, values in (("fomm", fomm), ("sadm", sadm)):
        log_run(method, "synthetic", "reconstruction", {**RECON, "l1": float(values.mean())},
                per_video=_per_video(values), **DEMO)
    table = build_table("table1", load_runs())
    return (_row(table, m).cells[("reconstruction", "l1")] for m in ("FOMM", "SADM")), table


def test_bold_only_when_significantly_best_else_ties_are_underlined(runs_env):
    base = np.random.default_rng(0).uniform(0.05, 0.1, 10)
    (fomm, sadm), table = _marks(runs_env, base, base * 0.8)  # SADM better on every video
    assert sadm.bold and not sadm.tied and not fomm.bold and not fomm.tied
    assert "significantly better than the second" in table.caption


def test_a_difference_within_noise_marks_both(runs_env):
    base = np.random.default_rng(1).uniform(0.05, 0.1, 10)
    noise = np.where(np.arange(10) % 2 == 0, 1.3, 0.72)
    (fomm, sadm), table = _marks(runs_env, base, base * noise)  # about equal on average
    assert not fomm.bold and not sadm.bold and fomm.tied and sadm.tied
    assert "<u>" in to_markdown(table) and r"\underline{" in to_latex(table)


def test_intervals_on_request(runs_env):
    log_run("fomm", "synthetic", "reconstruction", {**RECON, "l1_ci_low": 0.045, "l1_ci_high": 0.055}, **DEMO)
    table = build_table("table1", load_runs(), intervals=True)
    assert "0.050 [0.045, 0.055]" in to_markdown(table)
    assert to_frame(table)["reconstruction.l1_ci_low"].tolist() == [pytest.approx(0.045)]


def test_untrained_weights_need_an_explicit_random_init(tmp_path, capsys):
    args = ["run", "--method", "fomm", "--dataset", "synthetic", "--max-videos", "1", "--task", "reconstruction",
            "--metrics", "l1", "--no-best-of-refs", "--out", str(tmp_path / "run")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--random-init" in err and "--checkpoint" in err
    assert not (tmp_path / "run").exists()  # refused before anything was written
    assert main(args + ["--random-init"]) == 0
    import json

    record = json.loads((tmp_path / "run" / "summary.json").read_text())["run"]
    assert record["random_init"] is True and record["origin"] == "random-init"
    runs = load_runs(random_init=True)
    assert runs["weights"].tolist() == ["random-init"] and load_runs().empty
    assert main(["run", "--method", "copy-source", "--dataset", "synthetic", "--max-videos", "1", "--task",
                 "reconstruction", "--metrics", "l1", "--out", str(tmp_path / "copy")]) == 0  # nothing to train
    assert load_runs()["weights"].tolist() == ["none"]
