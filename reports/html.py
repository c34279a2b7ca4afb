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
once and one column per method, each labelled with that video's metrics from the run's
``per_video.csv``. The videos of a row play in sync: the driving video leads (the row's
play button and slider drive it), the script keeps the others on its clock. Runs keep the same seeded choice of K items
for every method (:func:`bench.runner.videos.chosen_items`), so the rows are complete when the runs
share their seed and K.
"""
from __future__ import annotations

import html
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

import numpy as np
import pandas as pd

from bench.errors import UserError, first_line
from bench.reports.metric_info import higher_is_better, is_better, known, label
from bench.reports.published import load_published
from bench.reports.render import arrow, footnotes, interval_text, legend, marked, number_text, row_label
from bench.reports.tables import (DATASET_ORDER, METHOD_ORDER, SPECS, Column, Row, Table, build_table,
                                  dataset_title_count, method_title, order_key, table1_runs)
from bench.protocol import PROTOCOL

PAGE = "index.html"
MEDIA = "media"
FIGURES = "figures"
VIDEO_ARTIFACTS = "videos"
DEFAULT_FPS = 25.0
TABLE_TITLES = {"table1": "Table 1", "generality": "Generality", "ablation": "Ablation",
                "nviews": "Number of reference views N"}


# --- run artifacts -------------------------------------------------------------------------------

@dataclass
class RunFiles:
    """What the report reads of one run: its per-video metrics and its side-by-side videos."""

    per_video: pd.DataFrame | None = None
    videos: dict[str, Path] = field(default_factory=dict)  # artifact file name -> local copy
    problem: str | None = None  # why the artifacts could not be read


def fetch_run_files(run_ids: Iterable[str], work_dir: Path) -> dict[str, RunFiles]:
    """``per_video.csv`` and ``videos/*.mp4`` of each run: read in place from a local artifact store,
    else downloaded into ``work_dir``.

    Local files are read directly because MLflow refuses to download artifact paths with ``#``,
    which videos of runs before the file names dropped it have. A run whose artifacts cannot be
    read is kept with the reason (the page says so) rather than failing the whole report.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    from bench import tracking
    from bench.reports.artifacts import find_artifact, local_artifact_root, quiet_artifact_downloads

    out: dict[str, RunFiles] = {}
    with quiet_artifact_downloads():
        with tracking.store_errors():
            mlflow.set_tracking_uri(tracking.tracking_uri())
            client = MlflowClient()
        for run_id in run_ids:
            files = out[run_id] = RunFiles()
            try:
                root = local_artifact_root(client.get_run(run_id).info.artifact_uri)

                def fetch(path: str) -> Path:
                    if root is not None:
                        return root / path
                    return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path,
                                                                    dst_path=str(work_dir / run_id)))
                path = find_artifact(run_id)
                if path is not None:
                    files.per_video = pd.read_csv(fetch(path))
                for info in client.list_artifacts(run_id, VIDEO_ARTIFACTS):
                    if not info.is_dir and info.path.endswith(".mp4"):
                        files.videos[Path(info.path).name] = fetch(info.path)
            except Exception as exc:  # noqa: BLE001 - one unreadable run must not hide the others
                files.problem = f"artifacts of run {run_id} could not be read: {first_line(exc, 300)}"
    return out


# --- videos: split the strips, encode for the browser ------------------------------------------------

@dataclass
class Strip:
    """A ``source | driving | generated`` video split into its three parts."""

    title: str | None
    fps: float
    source: np.ndarray  # H x W x 3
    driving: np.ndarray  # T x H x W x 3
    generated: np.ndarray  # T x H x W x 3


def read_strip(path: str | Path) -> Strip:
    """Decode a side-by-side video of ``bench run --save-videos`` and cut it into thirds."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate) if stream.average_rate else DEFAULT_FPS
        title = container.metadata.get("title")
        frames = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(stream)])
    width = frames.shape[2] // 3
    return Strip(title, fps, frames[0, :, :width], frames[:, :, width:2 * width], frames[:, :, 2 * width:3 * width])


def _even(frames: np.ndarray) -> np.ndarray:
    """Pad height and width to even sizes (H.264 in 4:2:0, what every browser plays, needs them)."""
    height, width = frames.shape[1:3]
    return np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")


def encode_mp4(frames: np.ndarray, path: Path, fps: float) -> Path:
    """``T x H x W x 3`` uint8 frames as an H.264 (yuv420p, faststart) mp4 that browsers play."""
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    with imageio.get_writer(path, fps=fps, codec="libx264", quality=9, macro_block_size=2, pixelformat="yuv420p",
                            output_params=["-movflags", "+faststart", "-g", "10"]) as writer:
        for frame in _even(frames):
            writer.append_data(frame)
    return path


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


# --- the video grids ------------------------------------------------------------------------------

@dataclass
class Metric:
    """One per-video number of a grid cell: value, best-of-references value, bold when best of the row."""

    name: str
    value: float
    best: float | None = None
    bold: bool = False


@dataclass
class GridCell:
    video: str | None = None  # path relative to the page; None: the run did not keep this item
    metrics: list[Metric] = field(default_factory=list)


@dataclass
class GridRow:
    item: str
    source: str
    driving: str
    cells: dict[str, GridCell]


@dataclass
class VideoGrid:
    """The videos of one (dataset, task): one row per kept item, one column per method."""

    dataset: str
    task: str
    methods: list[str]
    rows: list[GridRow]
    notes: list[str] = field(default_factory=list)
    width: int = 0  # frame width in pixels


def per_video_metrics(table: pd.DataFrame | None, item: str) -> list[Metric]:
    """The registered metrics of ``item`` in a run's per-video table (column order), with ``_best``."""
    if table is None or table.empty:
        return []
    key = "video" if "video" in table.columns else table.columns[0]
    rows = table[table[key].astype(str) == item]
    if rows.empty:
        return []
    row = rows.iloc[0]
    out = []
    for column in table.columns:
        if column == key or not known(column) or pd.isna(row[column]):
            continue
        best = row.get(f"{column}_best")
        out.append(Metric(column, float(row[column]), None if best is None or pd.isna(best) else float(best)))
    return out


def _mark_row_best(cells: Iterable[GridCell]) -> None:
    """Bold each metric's best value among the methods of a row (ties all bold; needs two values)."""
    by_metric: dict[str, list[Metric]] = {}
    for cell in cells:
        for metric in cell.metrics:
            by_metric.setdefault(metric.name, []).append(metric)
    for name, metrics in by_metric.items():
        if len(metrics) < 2:
            continue
        best = metrics[0].value
        for metric in metrics[1:]:
            if is_better(name, metric.value, best):
                best = metric.value
        for metric in metrics:
            metric.bold = metric.value == best


def _item_names(files: RunFiles) -> dict[str, str]:
    """Artifact file name -> item name, from the run's per-video table (the file names are hashed)."""
    from bench.runner.videos import video_file

    if files.per_video is None or files.per_video.empty:
        return {}
    key = "video" if "video" in files.per_video.columns else files.per_video.columns[0]
    return {video_file(str(name)): str(name) for name in files.per_video[key]}


def _fallback_name(file_name: str) -> str:
    """The readable part of a video file name (``<name>-<8 hex digits>.mp4``)."""
    return re.sub(r"-[0-9a-f]{8}$", "", Path(file_name).stem)


def video_grids(runs: pd.DataFrame, files: dict[str, RunFiles], out_dir: Path) -> list[VideoGrid]:
    """Split the kept videos of ``runs`` (one per dataset, method and task) into the page's media files."""
    from PIL import Image

    grids = []
    keys = runs[["dataset", "task"]].drop_duplicates()
    ordered = sorted(keys.itertuples(index=False),
                     key=lambda k: (order_key(DATASET_ORDER, k.dataset), order_key(tuple(PROTOCOL), k.task)))
    for dataset, task in ordered:
        part = runs[(runs["dataset"] == dataset) & (runs["task"] == task)]
        part = part.assign(_order=part["method"].map(lambda m: order_key(METHOD_ORDER, m))).sort_values("_order")
        methods = list(part["method"])
        grid = VideoGrid(str(dataset), str(task), methods, [])
        by_file: dict[str, dict[str, Path]] = {}  # artifact file -> method -> local copy of the strip
        names: dict[str, str] = {}
        for _, run in part.iterrows():
            run_files = files.get(run["run_id"], RunFiles())
            if run_files.problem:
                grid.notes.append(f"{method_title(run['method'])}: {run_files.problem}")
            names.update(_item_names(run_files))
            for file_name, path in run_files.videos.items():
                by_file.setdefault(file_name, {})[run["method"]] = path
        folder = out_dir / MEDIA / _slug(str(dataset)) / _slug(str(task))
        entries = []
        for file_name, paths in by_file.items():
            strips = {}
            for method, path in paths.items():
                try:
                    strips[method] = read_strip(path)
                except (OSError, ValueError, IndexError) as exc:  # av's errors are OSError / ValueError subclasses
                    grid.notes.append(f"{method_title(method)}: video {file_name} could not be read ({exc})")
            if not strips:
                continue
            first = strips[next(m for m in methods if m in strips)]
            item = names.get(file_name) or first.title or _fallback_name(file_name)
            entries.append((item, file_name, strips, first))
        for item, file_name, strips, first in sorted(entries, key=lambda e: e[0]):
            where = folder / _slug(Path(file_name).stem)
            where.mkdir(parents=True, exist_ok=True)
            Image.fromarray(first.source).save(where / "source.png")
            encode_mp4(first.driving, where / "driving.mp4", first.fps)
            grid.width = grid.width or int(first.source.shape[1])
            cells: dict[str, GridCell] = {}
            for index, method in enumerate(methods):
                if method not in strips:
                    cells[method] = GridCell()
                    continue
                strip = strips[method]
                target = encode_mp4(strip.generated, where / f"m{index}-{_slug(method)}.mp4", strip.fps)
                run_id = part[part["method"] == method]["run_id"].iloc[0]
                cells[method] = GridCell(_relative(target, out_dir),
                                         per_video_metrics(files.get(run_id, RunFiles()).per_video, item))
            _mark_row_best(cells.values())
            grid.rows.append(GridRow(item, _relative(where / "source.png", out_dir),
                                     _relative(where / "driving.mp4", out_dir), cells))
        missing = [method_title(m) for m in methods if not any(r.cells[m].video for r in grid.rows)]
        if missing and grid.rows:
            grid.notes.append(f"no saved videos for {', '.join(missing)} (run with --save-videos K)")
        if any(r.cells[m].video is None for r in grid.rows for m in methods if m not in missing):
            grid.notes.append("some runs kept other videos (a different --seed, --save-videos, --max-videos or "
                              "pairs): their cells are empty")
        grids.append(grid)
    return grids


def _relative(path: Path, root: Path) -> str:
    return quote(path.relative_to(root).as_posix())


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
    parts = []
    for metric, cell in zip(column.metrics, cells):
        if cell.value is None:
            parts.append(f'<span class="na" title="{_e(cell.na or "not available")}">N/A</span>')
            continue
        text = marked(cell, _e(number_text(metric, cell.value, cell.digits)), lambda t: f"<strong>{t}</strong>",
                      lambda t: f"<u>{t}</u>")
        bounds = interval_text(metric, cell)
        if bounds:
            text = f'<span title="95% interval:{_e(bounds)}">{text}</span>'
        parts.append(text + (f'<span class="ci">{_e(bounds)}</span>' if intervals else ""))
    text = "/".join(parts)
    if any(c.best is not None for c in cells):
        best = "/".join(_e(number_text(m, c.best, c.best_digits)) for m, c in zip(column.metrics, cells))
        text += f' <span class="best" title="best over the reference images">({best})</span>'
    return f"<td>{text}</td>"


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
    anchor = f"videos-{_slug(grid.dataset)}-{_slug(grid.task)}"
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
                cells.append(f'<td class="empty" data-method="{_e(method)}">not saved by this run</td>')
                continue
            metrics = ("".join(_metric_label(m) for m in cell.metrics)
                       or '<span class="metric">no per-video metrics</span>')
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


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1d1d1f; background: #fff; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; }
nav a { margin-right: 1rem; }
.meta, .note, .legend { color: #555; font-size: .9rem; }
table.results { border-collapse: collapse; margin: 1rem 0 2rem; font-variant-numeric: tabular-nums; }
table.results caption { caption-side: bottom; text-align: left; padding-top: .4rem; max-width: 70rem; }
table.results th, table.results td { border-bottom: 1px solid #e4e4e4; padding: .25rem .6rem; text-align: center; }
table.results td.label { text-align: left; white-space: nowrap; }
table.results th.group { text-align: left; vertical-align: top; }
table.results tr.reported td { color: #666; font-style: italic; }
table.results tbody { border-top: 2px solid #999; }
.na { text-decoration: underline dotted; cursor: help; color: #888; }
.missing { color: #aaa; }
figure { display: inline-block; margin: 0 1rem 1rem 0; vertical-align: top; }
figure img { max-width: 46rem; border: 1px solid #eee; }
.controls { position: sticky; top: 0; background: #fafafa; padding: .4rem; border: 1px solid #e4e4e4; z-index: 1; }
table.videos { border-collapse: collapse; margin-bottom: 1.5rem; }
table.videos th, table.videos td { padding: .3rem; vertical-align: top; text-align: center; }
table.videos th.item { text-align: left; font-weight: normal; font-family: monospace; min-width: 6rem;
                       max-width: 12rem; overflow-wrap: anywhere; }
table.videos video, table.videos img { width: var(--cell); height: auto; display: block; image-rendering: pixelated;
                                       background: #000; }
table.videos td.empty { width: var(--cell); color: #999; font-size: .85rem; }
.metrics { font-size: .75rem; width: var(--cell); font-variant-numeric: tabular-nums; padding-top: .2rem; }
.metric { display: block; }
.scrub { display: flex; align-items: center; gap: .3rem; width: var(--cell); padding-top: .2rem; }
.scrub button { width: 2rem; padding: 0; } .scrub input { flex: 1; min-width: 0; }
"""

#: keeps the videos of a row on the clock of its driving video (``data-lead``, with the row's controls)
SCRIPT = """
(() => {
  const STEP = 0.08;  // allowed drift in seconds (two frames at 25 fps)
  const play = (video) => { const promise = video.play(); if (promise) promise.catch(() => {}); };
  const groups = new Map();
  for (const video of document.querySelectorAll("video[data-sync]")) {
    if (!groups.has(video.dataset.sync)) groups.set(video.dataset.sync, []);
    groups.get(video.dataset.sync).push(video);
  }
  const leads = [];
  for (const videos of groups.values()) {
    const lead = videos.find((v) => v.hasAttribute("data-lead")) || videos[0];
    const rest = videos.filter((v) => v !== lead);
    leads.push(lead);
    const align = () => {
      for (const video of rest) {
        if (video.readyState > 0 && Math.abs(video.currentTime - lead.currentTime) > STEP) {
          video.currentTime = lead.currentTime;
        }
        if (lead.paused && !video.paused) video.pause();
        if (!lead.paused && video.paused) play(video);
      }
    };
    for (const name of ["play", "pause", "seeked", "timeupdate"]) lead.addEventListener(name, align);
    lead.addEventListener("ratechange", () => { for (const v of rest) v.playbackRate = lead.playbackRate; });
    for (const video of rest) video.addEventListener("loadeddata", align);
    const bar = document.querySelector(`.scrub[data-for="${CSS.escape(lead.dataset.sync)}"]`);
    if (bar) {  // the row's own play/pause button and position slider
      const button = bar.querySelector("button"), range = bar.querySelector("input");
      const show = () => {
        button.textContent = lead.paused ? "\u25B6" : "\u275A\u275A";
        if (lead.duration) range.value = lead.currentTime / lead.duration;
      };
      button.addEventListener("click", () => (lead.paused ? play(lead) : lead.pause()));
      range.addEventListener("input", () => {
        lead.pause();
        if (lead.duration) lead.currentTime = Number(range.value) * lead.duration;
      });
      for (const name of ["play", "pause", "timeupdate", "seeked"]) lead.addEventListener(name, show);
    }
  }
  window.motionbench = { groups, leads };
  const byId = (id) => document.getElementById(id);
  byId("play-all").addEventListener("click", () => leads.forEach(play));
  byId("pause-all").addEventListener("click", () => leads.forEach((v) => v.pause()));
  byId("restart-all").addEventListener("click", () => leads.forEach((v) => { v.currentTime = 0; play(v); }));
  byId("speed").addEventListener("change", (event) => {
    leads.forEach((v) => { v.playbackRate = Number(event.target.value); });
  });
})();
"""


def page_html(tables: list[Table], figure_paths: list[Path], grids: list[VideoGrid], out_dir: Path,
              run_count: int, store: str) -> str:
    """The whole page (inline style and script; figures and videos by relative path)."""
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = ['<a href="#tables">Tables</a>'] + (['<a href="#figures">Figures</a>'] if figure_paths else [])
    nav += [f'<a href="#videos-{_e(_slug(g.dataset))}-{_e(_slug(g.task))}">Videos: {_e(g.dataset)} {_e(g.task)}</a>'
            for g in grids]
    body = ["<h1>motionbench report</h1>",
            f'<p class="meta">{run_count} evaluation run{"s" if run_count != 1 else ""} from {_e(store)}, '
            f"generated {generated}.</p>", f"<nav>{''.join(nav)}</nav>", '<h2 id="tables">Tables</h2>']
    body += [f"<h3>{_e(TABLE_TITLES.get(t.name, t.name))}</h3>\n{table_html(t)}" for t in tables]
    if figure_paths:
        body.append('<h2 id="figures">Figures</h2>')
        for png in (p for p in figure_paths if p.suffix == ".png"):
            pdf = png.with_suffix(".pdf")
            link = f' · <a href="{_relative(pdf, out_dir)}">PDF</a>' if pdf.exists() else ""
            body.append(f'<figure><img src="{_relative(png, out_dir)}" alt="{_e(png.stem)}">'
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
            f"<style>{STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) +
            f"\n<script>{SCRIPT}</script>\n</body>\n</html>\n")


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
