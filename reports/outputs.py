"""Tables and figures written to a folder: what ``bench report`` and ``bench demo`` produce."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from bench.errors import UserError
from bench.reports import figures
from bench.reports.latex import compile_pdf, pdf_to_png
from bench.reports.published import load_published, published_labels
from bench.reports.render import RENDERERS
from bench.reports.runs import load_runs
from bench.reports.tables import Table, build_table, table1_runs

FORMATS = tuple(RENDERERS)


def make_table(name: str, measured: pd.DataFrame | None = None, reported: bool = False,
               reported_only: bool = False, intervals: bool = False) -> Table:
    """Table ``name`` from the tracking store's complete runs (or ``measured``), with or only with the published
    rows; ``intervals`` shows each measured value's interval."""
    if reported_only:
        return build_table(name, None, load_published(name), published_labels(name))
    if measured is None:
        measured = load_runs()
    table = build_table(name, measured, load_published(name) if reported else None, intervals=intervals)
    if not table.groups:
        raise UserError(f"no complete evaluation runs for '{name}' in the tracking store "
                        "(run `bench run`, `bench sweep` or `bench demo` first, or use --reported-only)")
    return table


def write_table(table: Table, out_dir: str | Path, formats: Iterable[str] = FORMATS, png: bool = False) -> list[Path]:
    """``<name>.tex|md|csv`` in ``out_dir``; with ``png`` the .tex is compiled to PDF and PNG too."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    formats = list(formats)
    unknown = [f for f in formats if f not in RENDERERS]
    if unknown:
        raise UserError(f"unknown table format '{unknown[0]}'; choose from: {', '.join(FORMATS)}")
    if png and "tex" not in formats:
        formats.append("tex")
    paths = []
    for fmt in formats:
        path = out_dir / f"{table.name}.{fmt}"
        path.write_text(RENDERERS[fmt](table))
        paths.append(path)
    if png:
        pdf = compile_pdf(out_dir / f"{table.name}.tex")
        paths += [pdf, pdf_to_png(pdf)]
    return paths


def write_figures(out_dir: str | Path, measured: pd.DataFrame | None = None, reported: bool = False,
                  fetch: Callable[[str], pd.DataFrame | None] | None = None) -> list[Path]:
    """Every figure the runs allow (N sweep, ablation, per-video distributions), as PNG and PDF."""
    out_dir = Path(out_dir)
    if measured is None:
        measured = load_runs()
    paths: list[Path] = []
    for name, draw in (("nviews", figures.nviews_figure), ("ablation", figures.ablation_figure)):
        table = build_table(name, measured, load_published(name) if reported else None)
        if table.groups:
            paths += draw(table, out_dir)
    if len(measured):
        paths += figures.per_video_figures(figures.per_video_frame(table1_runs(measured), fetch), out_dir)
    return paths
