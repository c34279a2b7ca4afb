"""bench demo end to end (slow: trains three tiny models): files, tracked runs, table content."""
from __future__ import annotations

import pandas as pd
import pytest

from bench.cli import main
from bench.reports.runs import load_runs


@pytest.mark.slow
def test_demo_quick_trains_evaluates_and_reports(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--quick", "--out", "demo"]) == 0
    out = capsys.readouterr().out
    assert "mlflow ui --backend-store-uri sqlite:///" in out and "[10/10]" in out
    page = tmp_path / "demo" / "report" / "index.html"
    assert page.is_file() and "wrote the HTML report" in out and "Copy source" in page.read_text()

    table = pd.read_csv(tmp_path / "demo" / "table1.csv")
    assert table["method"].tolist() == ["copy-source", "fomm", "mraa", "sadm"]
    assert table["reconstruction.l1"].notna().all() and table["reconstruction.psnr"].notna().all()
    assert (tmp_path / "demo" / "table1.tex").read_text().count(r"\toprule") == 1
    assert (tmp_path / "demo" / "table1.md").read_text().count("| SADM |") == 1
    png = tmp_path / "demo" / "figures" / "per_video_synthetic_reconstruction.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    runs = load_runs()  # the conftest store: MLFLOW_TRACKING_URI of this test
    assert sorted(map(tuple, runs[["method", "task"]].values.tolist())) == sorted(
        (m, t) for m in ("copy-source", "fomm", "mraa", "sadm") for t in ("reconstruction", "animation"))
    assert len(load_runs(kind="train", complete_only=False)) == 3


@pytest.mark.parametrize("method", ["fomm", "mraa", "sadm"])
def test_demo_moves_the_lr_drop_into_its_shorter_schedule(method):
    from bench.commands.demo import FULL, scaled_milestones
    from bench.training.config import load_train_config

    preset = load_train_config(method, "synthetic")
    assert scaled_milestones(method, preset.num_epochs) == preset.epoch_milestones
    for epochs in (1, 2, FULL.epochs, 2 * preset.num_epochs):
        assert all(0 < m < epochs for m in scaled_milestones(method, epochs)), epochs
    assert scaled_milestones(method, FULL.epochs), "the demo's default run must include the lr drop"
