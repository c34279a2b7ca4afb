"""Compiled LaTeX (pdflatex) and PNG of the tables; figures as valid PNG and PDF files."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest
from PIL import Image

from bench.cli import main
from bench.reports.latex import APT_PACKAGES, compile_pdf
from bench.reports.outputs import write_figures, write_table
from bench.reports.published import load_published
from bench.reports.runs import load_runs
from bench.reports.tables import build_table
from tests.test_report_tables import RECON, log_run, runs_env, store_uri  # noqa: F401  (fixtures)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
needs_latex = pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftoppm") is None,
                                 reason="pdflatex/pdftoppm not installed (apt-get install -y "
                                 + " ".join(APT_PACKAGES) + ")")


def _valid_png(path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        return image.size


def _valid_pdf(path) -> None:
    data = path.read_bytes()
    assert data[:5] == b"%PDF-" and b"%%EOF" in data[-1024:]


@needs_latex
def test_measured_table_with_special_characters_compiles(runs_env, tmp_path):
    log_run("my_method&co", "synthetic", "reconstruction", {**RECON, "l1_best": 0.01}, na={"akd": "50% of #frames"})
    log_run("fomm", "synthetic", "reconstruction", RECON)
    log_run("fomm", "dfdc", "animation", {"fid": 70.0, "csim": 0.8})
    table = build_table("table1", load_runs(), load_published("table1"))
    paths = write_table(table, tmp_path, ["tex"], png=True)
    assert [p.suffix for p in paths] == [".tex", ".pdf", ".png"]
    assert r"my\_method\&co" in paths[0].read_text()
    _valid_pdf(paths[1])
    width, height = _valid_png(paths[2])
    assert width > height > 100  # cropped to the table, landscape


@needs_latex
def test_cli_png_of_the_papers_table1(tmp_path):
    assert main(["report", "table1", "--reported-only", "--out", str(tmp_path), "--format", "md", "--png"]) == 0
    assert {p.name for p in tmp_path.iterdir()} >= {"table1.md", "table1.tex", "table1.pdf", "table1.png"}
    _valid_png(tmp_path / "table1.png")


@needs_latex
def test_broken_tex_is_a_user_error(tmp_path):
    from bench.errors import UserError

    bad = tmp_path / "bad.tex"
    bad.write_text("\\documentclass{article}\\begin{document}\\undefinedmacro\\end{document}\n")
    with pytest.raises(UserError, match="pdflatex failed"):
        compile_pdf(bad)


def test_figures_are_png_and_pdf(runs_env, tmp_path):
    videos = [f"v{i}" for i in range(6)]
    for method, shift in (("fomm", 0.0), ("sadm", -0.02)):
        per_video = pd.DataFrame({"video": videos, "l1": [0.05 + shift + 0.01 * i for i in range(6)],
                                  "psnr": [20 + i for i in range(6)]})
        log_run(method, "synthetic", "reconstruction", {"l1": 0.07 + shift, "psnr": 22.5}, per_video=per_video)
    for n in (1, 2, 3):
        log_run("sadm", "synthetic", "animation", {"fid": 90.0 - n, "csim": 0.5 + 0.01 * n}, variant="full", num_refs=n)
    log_run("sadm", "synthetic", "animation", {"fid": 95.0, "csim": 0.4}, variant="no_motion_evolution")
    paths = write_figures(tmp_path)
    names = sorted(p.name for p in paths)
    assert names == ["ablation.pdf", "ablation.png", "nviews.pdf", "nviews.png",
                     "per_video_synthetic_reconstruction.pdf", "per_video_synthetic_reconstruction.png"]
    for path in paths:
        if path.suffix == ".png":
            _valid_png(path)
        else:
            _valid_pdf(path)


def test_figures_cli_without_runs_says_so(runs_env, tmp_path, capsys):
    assert main(["report", "figures", "--out", str(tmp_path)]) == 0
    assert "no runs to draw" in capsys.readouterr().err
