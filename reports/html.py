"""``bench report html``: one static page with the tables, the figures and every method's videos.

The page opens from disk (no server, nothing fetched from the network): its style and its script
are inline, and the figures and videos are files next to it::

    OUT/index.html
    OUT/figures/<name>.png|pdf                    (bench.reports.figures)
    OUT/media/<dataset>/<task>/<item>/source.png  the source image
                                     /driving.mp4  the driving video
                                     /m<i>-<method>.mp4  each method's output

Each run's ``videos/*.mp4`` artifacts hold ``source | driving | generated`` strips (``bench run
--save-videos K``); they are split here so that a grid row shows the source and the driving video
once and one column per method (:mod:`bench.reports.grids`), each labelled with that video's metrics
from the run's ``per_video.csv``. The page's style and script are package data
(``reports/templates/report.css``, ``report.js``). The videos of a row play in sync: the driving video leads (the row's
play button and slider drive it), the script keeps the others on its clock. Runs keep the same seeded choice of K items
for every method (:func:`bench.runner.videos.chosen_items`), so the rows are complete when the runs
share their seed and K.
"""
from __future__ import annotations

import html
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from bench.errors import UserError
from bench.reports.artifacts import fetch_run_files
from bench.reports.grids import Metric, VideoGrid, relative, video_grids
from bench.reports.media import slug
from bench.reports.metric_info import higher_is_better, known, label
from bench.reports.published import load_published
from bench.reports.render import (arrow, footnotes, interval_text, legend, marked, number_text, row_label,
                                  spread_text)
from bench.reports.tables import SPECS, Column, Row, Table, build_table, dataset_title_count, method_title, table1_runs
from bench.protocol import PROTOCOL

PAGE = "index.html"
FIGURES = "figures"
TABLE_TITLES = {"table1": "Table 1", "generality": "Generality", "ablation": "Ablation",
                "nviews": "Number of reference views N"}


# --- run artifacts -------------------------------------------------------------------------------

# --- HTML -----------------------------------------------------------------------------------------

def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _direction(metric: str) -> str:
    if not known(metric):
        return "direction unknown: not ranked"
    return "higher is better" if higher_is_better(metric) else "lower is better"


def _table_cell(row: Row, column: Column, intervals: bool) -> str:
    """Like the Markdown/LaTeX cell (``a``, ``a/b``, `` [low, high]``, `` (best)``), with N/A reasons and
    intervals as tooltips."""
    cells = [row.cells[(column.task, m)] for m in column.metrics]
    if all(c.value is None and c.na is None for c in cells):
        return '<td class="missing" title="no run">–</td>'
    parts, hover = [], []
    for metric, cell in zip(column.metrics, cells):
        if cell.value is None:
            parts.append(f'<span class="na" title="{_e(cell.na or "not available")}">N/A</span>')
            continue
        text = marked(cell, _e(number_text(metric, cell.value, cell.digits)), lambda t: f"<strong>{t}</strong>",
                      lambda t: f"<u>{t}</u>")
        bounds = interval_text(metric, cell)
        hover += [f"{label(metric)} 95% interval{bounds}"] if bounds else []
        spread = f'<span class="ci" title="over {cell.seeds} training seeds">{_e(spread_text(metric, cell))}</span>'
        parts.append(text + (f'<span class="ci">{_e(bounds)}</span>' if intervals else "") + (spread if cell.seed_sd else ""))
    text = "/".join(parts)
    if any(c.best is not None for c in cells):
        best = "/".join(_e(number_text(m, c.best, c.best_digits)) for m, c in zip(column.metrics, cells))
        text += f' <span class="best" title="best over the reference images">({best})</span>'
    return f'<td title="{_e("; ".join(hover))}">{text}</td>' if hover else f"<td>{text}</td>"


def table_html(table: Table) -> str:
    """A Table as an HTML ``<table>``: two-level header with arrows, bold best, N/A reasons on hover."""
    spans = "".join(f'<th colspan="{width}">{_e(title)}</th>' for title, width in table.spans)
    headers = "".join(f'<th title="{_e(_direction(c.metrics[0]))}">{_e(c.header)} {arrow(c.metrics[0])}</th>'
                      for c in table.columns)
    note = legend(table).replace("the reason is in the .csv", "hover over it for the reason")
    notes = "".join(f'<p class="footnote">{_e(text)}</p>' for text in footnotes(table, " ".join))
    lines = [f'<table class="results" id="table-{_e(table.name)}">',
             f'<caption>{_e(table.caption)} <span class="legend">{_e(note)}</span></caption>',
             f"<thead><tr><th rowspan=\"2\">{_e(table.group_header)}</th><th rowspan=\"2\">{_e(table.row_header)}</th>"
             f"{spans}</tr><tr>{headers}</tr></thead>"]
    for group in table.groups:
        lines.append("<tbody>")
        for i, row in enumerate(group.rows):
            first = (f'<th class="group" rowspan="{len(group.rows)}">{"<br>".join(_e(x) for x in group.lines)}</th>'
                     if i == 0 else "")
            cells = "".join(_table_cell(row, c, table.intervals) for c in table.columns)
            lines.append(f'<tr class="{_e(row.origin)}">{first}<td class="label">{_e(row_label(row))}</td>{cells}</tr>')
        lines.append("</tbody>")
    lines.append("</table>")
    return "\n".join(lines) + notes


def _metric_label(metric: Metric) -> str:
    value = _e(number_text(metric.name, metric.value))
    value = f"<strong>{value}</strong>" if metric.bold else value
    best = "" if metric.best is None else f' <span class="best">({_e(number_text(metric.name, metric.best))})</span>'
    return (f'<span class="metric" title="{_e(_direction(metric.name))}">{_e(label(metric.name))}'
            f"{arrow(metric.name)} {value}{best}</span>")


def grid_html(grid: VideoGrid, index: int) -> str:
    """One dataset and task: source, driving and a column per method, a row per kept item."""
    task = PROTOCOL[grid.task].title if grid.task in PROTOCOL else grid.task
    anchor = f"videos-{slug(grid.dataset)}-{slug(grid.task)}"
    out = [f'<section class="grid" id="{_e(anchor)}" data-dataset="{_e(grid.dataset)}" data-task="{_e(grid.task)}">',
           f"<h3>{_e(dataset_title_count(grid.dataset)[0])}: {_e(task)}</h3>"]
    out += [f'<p class="note">{_e(note)}</p>' for note in grid.notes]
    if not grid.rows:
        out.append('<p class="note">no saved videos: evaluate with <code>bench run ... --save-videos K</code></p>'
                   "</section>")
        return "\n".join(out)
    size = max(160, min(256, 2 * grid.width)) if grid.width else 192
    heads = "".join(f'<th class="method" data-method="{_e(m)}">{_e(method_title(m))}</th>' for m in grid.methods)
    item = "Pair" if grid.task == "animation" else "Video"
    out.append(f'<table class="videos" style="--cell: {size}px"><thead><tr><th>{item}</th><th>Source</th>'
               f"<th>Driving</th>{heads}</tr></thead><tbody>")
    for r, row in enumerate(grid.rows):
        group = f"g{index}-{r}"
        cells = []
        for method in grid.methods:
            cell = row.cells[method]
            if cell.video is None:
                cells.append(f'<td class="empty" data-method="{_e(method)}">{_e(cell.note)}</td>')
                continue
            metrics = ("".join(_metric_label(m) for m in cell.metrics)
                       or f'<span class="metric">{_e(cell.note)}</span>')
            cells.append(f'<td data-method="{_e(method)}"><video src="{cell.video}" data-sync="{group}" muted loop '
                         f'autoplay playsinline preload="auto"></video><div class="metrics">{metrics}</div></td>')
        out.append(f'<tr><th class="item">{_e(row.item)}</th>'
                   f'<td><img src="{row.source}" alt="source of {_e(row.item)}"></td>'
                   f'<td><video src="{row.driving}" data-sync="{group}" data-lead muted loop autoplay playsinline '
                   f'preload="auto"></video><div class="scrub" data-for="{group}"><button type="button" '
                   f'title="play or pause this row">❚❚</button><input type="range" min="0" max="1" step="0.001" '
                   f'value="0" aria-label="position in the videos of this row"></div></td>{"".join(cells)}</tr>')
    out.append("</tbody></table></section>")
    return "\n".join(out)


TEMPLATES = Path(__file__).resolve().parent / "templates"


def _template(name: str) -> str:
    """A file of the page's inline style or script (package data beside this module)."""
    return (TEMPLATES / name).read_text(encoding="utf-8")


def page_html(tables: list[Table], figure_paths: list[Path], grids: list[VideoGrid], out_dir: Path,
              run_count: int, store: str) -> str:
    """The whole page (inline style and script; figures and videos by relative path)."""
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = ['<a href="#tables">Tables</a>'] + (['<a href="#figures">Figures</a>'] if figure_paths else [])
    nav += [f'<a href="#videos-{_e(slug(g.dataset))}-{_e(slug(g.task))}">Videos: {_e(g.dataset)} {_e(g.task)}</a>'
            for g in grids]
    body = ["<h1>motionbench report</h1>",
            f'<p class="meta">{run_count} evaluation run{"s" if run_count != 1 else ""} from {_e(store)}, '
            f"generated {generated}.</p>", f"<nav>{''.join(nav)}</nav>", '<h2 id="tables">Tables</h2>']
    body += [f"<h3>{_e(TABLE_TITLES.get(t.name, t.name))}</h3>\n{table_html(t)}" for t in tables]
    if figure_paths:
        body.append('<h2 id="figures">Figures</h2>')
        for png in (p for p in figure_paths if p.suffix == ".png"):
            pdf = png.with_suffix(".pdf")
            link = f' · <a href="{relative(pdf, out_dir)}">PDF</a>' if pdf.exists() else ""
            body.append(f'<figure><img src="{relative(png, out_dir)}" alt="{_e(png.stem)}">'
                        f"<figcaption>{_e(png.stem)}{link}</figcaption></figure>")
    body.append('<h2 id="videos">Videos</h2>')
    body.append('<p class="note">Source, driving and each method\'s output, playing in sync (the controls under '
                "the driving video play, pause and move every video of the row). Under each video: its metrics, bold "
                "where best in the row; best over the reference images in parentheses.</p>")
    body.append('<div class="controls"><button id="play-all">Play all</button> <button id="pause-all">Pause all'
                '</button> <button id="restart-all">Restart</button> <label>Speed <select id="speed">'
                '<option value="0.25">0.25×</option><option value="0.5">0.5×</option>'
                '<option value="1" selected>1×</option></select></label></div>')
    body += [grid_html(g, i) for i, g in enumerate(grids)] or ['<p class="note">no runs with saved videos</p>']
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>motionbench report</title>\n<link rel=\"icon\" href=\"data:,\">\n"
            f"<style>{_template('report.css')}</style>\n</head>\n<body>\n" + "\n".join(body) +
            f"\n<script>{_template('report.js')}</script>\n</body>\n</html>\n")


def write_html_report(out_dir: str | Path, run_ids: Iterable[str] | None = None, measured: pd.DataFrame | None = None,
                      reported: bool = False) -> Path:
    """Write ``out_dir/index.html`` with its figures and videos; returns the page's path.

    ``measured``: the runs to report (default: every complete evaluation run of the tracking
    store); ``run_ids`` keeps only those runs (e.g. ``bench demo``'s); ``reported`` adds the
    paper's published rows to the tables.
    """
    from bench import tracking
    from bench.reports.outputs import write_figures
    from bench.reports.runs import load_runs

    out_dir = Path(out_dir)
    runs = load_runs() if measured is None else measured
    if run_ids is not None:
        runs = runs[runs["run_id"].isin(list(run_ids))]
    if runs.empty:
        raise UserError("no complete evaluation runs to report (run `bench run`, `bench sweep` or `bench demo` first)")
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = []
    for name in SPECS:
        table = build_table(name, runs, load_published(name) if reported else None)
        if table.groups:
            tables.append(table)
    shown = table1_runs(runs)
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        files = fetch_run_files(shown["run_id"], Path(tmp))
        per_video = {run_id: f.per_video for run_id, f in files.items()}
        figure_paths = write_figures(out_dir / FIGURES, measured=runs, reported=reported,
                                     fetch=lambda run_id: per_video.get(run_id))
        grids = video_grids(shown, files, out_dir)
    page = out_dir / PAGE
    store = re.sub(r"//[^/@]*@", "//", tracking.tracking_uri())  # no credentials on the page
    page.write_text(page_html(tables, figure_paths, grids, out_dir, len(runs), store), encoding="utf-8")
    return page
