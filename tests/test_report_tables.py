"""Tables from tracked runs: selection, bold per direction, parentheses, N/A, reported rows, CLI."""
from __future__ import annotations

import time

import pandas as pd
import pytest

from bench import tracking
from bench.cli import main
from bench.datasets import get_dataset
from bench.reports.outputs import make_table
from bench.reports.published import load_published
from bench.reports.render import to_csv, to_frame, to_latex, to_markdown
from bench.reports.runs import load_runs
from bench.reports.tables import build_table


def log_run(method: str, dataset: str, task: str, metrics: dict[str, float], *, variant: str = "default",
            num_refs: int | None = 3, train_dataset: str | None = None, na: dict[str, str] | None = None,
            status: str = "complete", per_video: pd.DataFrame | None = None, **tags: str) -> str:
    """One evaluation run in the mb.* tag schema, written with mlflow directly (``tags``: more mb.* tags)."""
    import mlflow

    mlflow.set_tracking_uri(tracking.tracking_uri())
    mlflow.set_experiment(tracking.experiment_name())
    run_tags = tracking.tags(kind="eval", method=method, dataset=dataset, train_dataset=train_dataset or dataset,
                             task=task, variant=variant, num_refs=num_refs, seed=0, status=status, **tags)
    run_tags.update({f"{tracking.TAG_PREFIX}na.{m}": reason for m, reason in (na or {}).items()})
    with mlflow.start_run(tags=run_tags) as run:
        if metrics:
            mlflow.log_metrics(metrics)
        if per_video is not None:
            mlflow.log_text(per_video.to_csv(index=False), "results/per_video.csv")
    time.sleep(0.01)  # distinct start times, so "latest" is well defined
    return run.info.run_id


@pytest.fixture(scope="session")
def store_uri(tmp_path_factory) -> str:
    """One SQLite store for these tests (creating one takes seconds); each test gets its own experiment."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlstore') / 'mlflow.db'}"


@pytest.fixture
def runs_env(store_uri, monkeypatch, request):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_uri)
    monkeypatch.setenv(tracking.EXPERIMENT_ENV, request.node.nodeid)


RECON = {"l1": 0.05, "lpips": 0.2, "fid": 80.0, "ms_ssim": 0.80, "ssim": 0.70, "psnr": 25.0}


def _row(table, label):
    return next(r for g in table.groups for r in g.rows if r.label == label)


def test_bold_follows_each_metrics_direction(runs_env):
    log_run("fomm", "synthetic", "reconstruction", {**RECON, "l1_best": 0.04, "videos": 5},
            na={"akd": "no keypoint detector"})
    log_run("sadm", "synthetic", "reconstruction", {**RECON, "l1": 0.03, "psnr": 20.0, "ssim": 0.75},
            na={"akd": "no keypoint detector"})
    log_run("fomm", "synthetic", "animation", {"fid": 90.0, "csim": 0.5})
    log_run("sadm", "synthetic", "animation", {"fid": 95.0, "csim": 0.6})
    table = build_table("table1", load_runs())
    fomm, sadm = _row(table, "FOMM"), _row(table, "SADM")
    assert sadm.cells[("reconstruction", "l1")].bold and not fomm.cells[("reconstruction", "l1")].bold
    assert fomm.cells[("reconstruction", "psnr")].bold and not sadm.cells[("reconstruction", "psnr")].bold
    assert fomm.cells[("animation", "fid")].bold and sadm.cells[("animation", "csim")].bold
    # equal values: both bold; SSIM higher for SADM
    assert fomm.cells[("reconstruction", "fid")].bold and sadm.cells[("reconstruction", "fid")].bold
    assert sadm.cells[("reconstruction", "ssim")].bold and not fomm.cells[("reconstruction", "ssim")].bold

    md = to_markdown(table)
    fomm_line = next(line for line in md.splitlines() if "| FOMM |" in line)
    sadm_line = next(line for line in md.splitlines() if "| SADM |" in line)
    assert "0.050 (0.040)" in fomm_line  # best-of-references in parentheses
    assert "**25.00**" in fomm_line and "**0.030**" in sadm_line
    assert "**0.80**/0.70" in fomm_line and "**0.80**/**0.75**" in sadm_line
    assert fomm_line.count("N/A") == 1  # AKD
    split = get_dataset("synthetic").test_count
    assert md.splitlines()[2].startswith(f"| Synthetic articulated figures (5 of {split}) |")  # evaluated of split

    tex = to_latex(table)
    assert r"\textbf{0.030}" in tex and r"\toprule" in tex and r"\bottomrule" in tex
    assert r"L1 ($\downarrow$)" in tex and r"PSNR ($\uparrow$)" in tex

    frame = to_frame(table)
    row = frame[frame["label"] == "FOMM"].iloc[0]
    assert row["reconstruction.l1"] == pytest.approx(0.05) and row["reconstruction.l1_best"] == pytest.approx(0.04)
    assert row["reconstruction.akd_na"] == "no keypoint detector"


def test_missing_task_incomplete_and_older_runs(runs_env):
    log_run("fomm", "synthetic", "reconstruction", {**RECON, "l1": 0.9})
    log_run("fomm", "synthetic", "reconstruction", RECON)  # newer: wins
    log_run("fomm", "synthetic", "reconstruction", {**RECON, "l1": 0.001}, status="running")  # ignored
    log_run("mraa", "synthetic", "reconstruction", {**RECON, "l1": 0.07})
    table = build_table("table1", load_runs())
    fomm = _row(table, "FOMM")
    assert fomm.cells[("reconstruction", "l1")].value == pytest.approx(0.05)
    assert fomm.cells[("reconstruction", "l1")].bold
    assert fomm.cells[("animation", "fid")].value is None and fomm.cells[("animation", "fid")].na is None
    md_line = next(line for line in to_markdown(table).splitlines() if "| FOMM |" in line)
    assert md_line.rstrip(" |").endswith("– | –")  # no animation run: dashes, not N/A


def test_reported_rows_are_labelled_and_never_ranked(runs_env):
    # measured DFDC run, worse than the paper's SADM on L1: measured still gets the bold
    log_run("fomm", "dfdc", "reconstruction", {**RECON, "l1": 0.2})
    log_run("sadm", "dfdc", "reconstruction", {**RECON, "l1": 0.1})
    table = build_table("table1", load_runs(), load_published("table1"))
    [group] = table.groups  # only groups with measured rows
    labels = [r.label for r in group.rows]
    assert labels[:2] == ["FOMM", "SADM"]
    assert labels[2:] == ["FOMM (reported)", "MRAA (reported)", "SADM (reported)"]
    reported = [r for r in group.rows if r.origin == "reported"]
    assert not any(c.bold for r in reported for c in r.cells.values())
    assert _row(table, "SADM").cells[("reconstruction", "l1")].bold
    assert _row(table, "SADM (reported)").cells[("reconstruction", "l1")].value == pytest.approx(0.018)
    assert r"\cmidrule(l){2-10}" in to_latex(table)  # reported block separated inside the group
    assert "reported" in to_csv(table)


def test_generality_ablation_nviews_select_their_runs(runs_env):
    log_run("sadm", "synthetic", "reconstruction", {**RECON, "l1": 0.035})  # variant default: the full model too
    for n, l1 in ((1, 0.05), (2, 0.04), (3, 0.03)):
        log_run("sadm", "synthetic", "reconstruction", {**RECON, "l1": l1}, variant="full", num_refs=n)
    log_run("sadm", "synthetic", "reconstruction", {**RECON, "l1": 0.06}, variant="no_motion_evolution")
    log_run("fomm", "mgif", "reconstruction", {**RECON, "l1": 0.08}, train_dataset="vox", num_refs=None)
    log_run("sadm", "mgif", "reconstruction", {**RECON, "l1": 0.05}, train_dataset="vox", num_refs=0)
    log_run("sadm", "mgif", "reconstruction", {**RECON, "l1": 0.04}, train_dataset="vox", num_refs=3)
    runs = load_runs()

    t1 = build_table("table1", runs)
    assert [r.label for g in t1.groups for r in g.rows] == ["SADM"]
    assert _row(t1, "SADM").cells[("reconstruction", "l1")].value == pytest.approx(0.03)  # the paper's N=3

    nviews = build_table("nviews", runs)
    assert [r.label for r in nviews.groups[0].rows] == ["1", "2", "3"]
    assert _row(nviews, "3").cells[("reconstruction", "l1")].bold

    ablation = build_table("ablation", runs)
    assert [r.label for r in ablation.groups[0].rows] == ["Full", "w/o Mot. Evol."]
    assert _row(ablation, "Full").cells[("reconstruction", "l1")].value == pytest.approx(0.03)

    generality = build_table("generality", runs)
    [group] = generality.groups
    assert group.lines == ["MGif (100)", "trained on VoxCeleb"]
    assert [r.label for r in group.rows] == ["FOMM", "SADM (N=0)", "SADM (N=3)"]
    assert "animation" not in {c.task for c in generality.columns}


def test_report_cli_writes_tables_and_runs(runs_env, tmp_path, capsys):
    log_run("copy-source", "synthetic", "reconstruction", RECON, na={"akd": "no detector"})
    assert main(["report", "table1", "--out", str(tmp_path), "--format", "md,csv"]) == 0
    text = (tmp_path / "table1.md").read_text()
    assert sum("Copy source" in line for line in text.splitlines() if line.startswith("|")) == 1
    csv = pd.read_csv(tmp_path / "table1.csv")
    assert csv["reconstruction.l1"].tolist() == [pytest.approx(0.05)]
    assert f"Copy source Rec. {csv['run_id.reconstruction'][0][:8]}" in text  # the run behind the row is named
    capsys.readouterr()
    assert main(["report", "runs", "--format", "csv"]) == 0
    runs = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert runs[["method", "task"]].values.tolist() == [["copy-source", "reconstruction"]]
    assert main(["report", "runs"]) == 0
    header, _, line = capsys.readouterr().out.splitlines()
    assert header.startswith("| run_id | start_time | method |") and header.endswith("| n/a |")
    assert "| copy-source | synthetic |" in line and line.endswith("| akd |")  # N/A metrics by name
    assert main(["report", "table1", "--format", "pdf"]) == 2


def test_no_runs_is_a_clear_user_error(runs_env, capsys):
    assert main(["report", "ablation"]) == 2
    assert "no complete evaluation runs" in capsys.readouterr().err
    assert main(["report", "ablation", "--reported-only"]) == 0
    assert "w/o Mot. Evol." in capsys.readouterr().out


def test_make_table_reported_only_uses_paper_labels():
    table = make_table("table1", reported_only=True)
    assert [r.label for r in table.groups[0].rows] == ["FOMM [37]", "AA [38]", "f-v2v [44]", "Ours"]
    assert not table.has_measured


def test_reported_cells_print_the_papers_digits_measured_the_registrys():
    """Beside measured rows (``--reported``), reported cells keep the paper's digits (4 decimals, trailing
    zeros) while measured cells keep the registry's decimals, in Markdown, LaTeX and CSV."""
    from bench.reports.runs import runs_frame

    measured = runs_frame([{"run_id": "m1", "origin": "measured", "kind": "eval", "status": "complete",
                            "method": "fomm", "dataset": "nemo", "train_dataset": "nemo", "task": "reconstruction",
                            "variant": "default", "num_refs": 3, "start_time": pd.Timestamp("2024-01-01", tz="UTC"),
                            **RECON, "l1": 0.0139, "l1_best": 0.012, "lpips": 0.07}])
    table = build_table("table1", measured, load_published("table1"))
    md = to_markdown(table).splitlines()
    mine = next(line for line in md if "| FOMM |" in line).split(" | ")
    theirs = next(line for line in md if "| FOMM (reported) |" in line).split(" | ")
    assert mine[2:4] == ["0.014 (0.012)", "0.070"]  # the registry's 3 decimals
    assert theirs[2:4] == ["0.0139 (0.0120)", "0.034 (0.027)"]  # as printed in the paper
    assert mine[6] == "25.00" and theirs[6] == "32.90 (33.91)"
    tex = to_latex(table)
    assert "FOMM & 0.014 (0.012) & " in tex and "FOMM (reported) & 0.0139 (0.0120) & " in tex
    csv = pd.read_csv(__import__("io").StringIO(to_csv(table)), dtype=str).set_index("label")
    assert csv.loc["FOMM (reported)", "reconstruction.l1_best"] == "0.0120"
    assert float(csv.loc["FOMM", "reconstruction.l1"]) == pytest.approx(0.0139)  # measured: raw value
    row = _row(table, "FOMM (reported)").cells[("reconstruction", "l1")]
    assert (row.value, row.digits, row.best_digits) == (pytest.approx(0.0139), 4, 4)
    assert _row(table, "FOMM").cells[("reconstruction", "l1")].digits is None


def test_caption_names_the_averaging_convention_of_the_measured_rows():
    import pandas as pd

    from bench.reports.tables import convention_note

    one = pd.DataFrame({"convention": ["fomm", "fomm", None]})
    assert "fomm convention, mean over every scored frame of every video pooled" in convention_note(one)
    mixed = pd.DataFrame({"convention": ["fomm", "video-mean"]})
    assert "mix averaging conventions (fomm, video-mean)" in convention_note(mixed)
    assert convention_note(pd.DataFrame({"method": ["fomm"]})) == ""
