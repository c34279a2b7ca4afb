"""The HTML report's video grids: per dataset and task, one row per kept item, one column per method.

The kept videos of each run (``source | driving | generated`` strips) are cut into the page's
media files: the source image and the driving video once per row, each method's output in its
column, labelled with the item's per-video metrics from the run's ``per_video.csv``. One bad
artifact costs its cell (or its row), with the reason, never the page.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

import pandas as pd

from bench.errors import first_line
from bench.protocol import PROTOCOL
from bench.reports.artifacts import RunFiles
from bench.reports.media import Strip, encode_mp4, read_strip, slug
from bench.reports.metric_info import info, is_better, known, label
from bench.reports.runs import NA_PREFIX
from bench.reports.tables import DATASET_ORDER, METHOD_ORDER, method_title, order_key

MEDIA = "media"
#: what a problem with one video file raises (av's errors are OSError / ValueError subclasses)
MEDIA_ERRORS = (OSError, ValueError, IndexError, RuntimeError)


@dataclass
class Metric:
    """One per-video number of a grid cell: value, best-of-references value, bold when best of the row."""

    name: str
    value: float
    best: float | None = None
    bold: bool = False


@dataclass
class GridCell:
    video: str | None = None  # path relative to the page; None: no video (``note`` says why)
    metrics: list[Metric] = field(default_factory=list)
    note: str = "not saved by this run"  # without a video: why; with one but no metrics: why not


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


def relative(path: Path, root: Path) -> str:
    return quote(path.relative_to(root).as_posix())


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


def no_metrics_reason(run: pd.Series) -> str:
    """Why a run's cell shows no per-video metric: each metric's N/A reason, or that it is one value per set."""
    reasons = []
    for column, value in run.items():
        name = str(column)
        if name.startswith(NA_PREFIX) and not name.endswith("_best") and isinstance(value, str):
            reasons.append(f"{label(name[len(NA_PREFIX):])} N/A: {value[:80]}")
        elif known(name) and info(name).distribution and isinstance(value, float) and value == value:
            reasons.append(f"{label(name)} is one value for the whole set")
    return "no per-video metrics" + (f" ({'; '.join(reasons)})" if reasons else "")


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


@dataclass
class Entry:
    """One kept item: its name, artifact file and each method's decoded strip."""

    item: str
    file_name: str
    strips: dict[str, Strip]


def _entries(part: pd.DataFrame, files: dict[str, RunFiles], grid: VideoGrid) -> list[Entry]:
    """The kept items of a (dataset, task)'s runs, decoded; unreadable videos and runs are noted on the grid."""
    by_file: dict[str, dict[str, Path]] = {}  # artifact file -> method -> local copy of the strip
    names: dict[str, str] = {}
    for _, run in part.iterrows():
        run_files = files.get(run["run_id"], RunFiles())
        if run_files.problem:
            grid.notes.append(f"{method_title(run['method'])}: {run_files.problem}")
        names.update(_item_names(run_files))
        for file_name, path in run_files.videos.items():
            by_file.setdefault(file_name, {})[run["method"]] = path
    entries = []
    for file_name, paths in by_file.items():
        strips = {}
        for method, path in paths.items():
            try:
                strips[method] = read_strip(path)
            except MEDIA_ERRORS as exc:
                grid.notes.append(f"{method_title(method)}: video {file_name} could not be read ({first_line(exc)})")
        if strips:
            first = strips[next(m for m in grid.methods if m in strips)]
            entries.append(Entry(names.get(file_name) or first.title or _fallback_name(file_name), file_name, strips))
    return sorted(entries, key=lambda e: e.item)


def _cell(entry: Entry, method: str, index: int, where: Path, out_dir: Path, run: pd.Series,
          files: dict[str, RunFiles]) -> GridCell:
    """One method's video of a row and its metrics (a video that cannot be written costs this cell only)."""
    if method not in entry.strips:
        return GridCell()
    strip = entry.strips[method]
    try:
        target = encode_mp4(strip.generated, where / f"m{index}-{slug(method)}.mp4", strip.fps)
    except MEDIA_ERRORS as exc:
        return GridCell(note=f"video could not be written: {first_line(exc)}")
    metrics = per_video_metrics(files.get(run["run_id"], RunFiles()).per_video, entry.item)
    return GridCell(relative(target, out_dir), metrics, "" if metrics else no_metrics_reason(run))


def _row(entry: Entry, part: pd.DataFrame, files: dict[str, RunFiles], grid: VideoGrid, folder: Path,
         out_dir: Path) -> GridRow | None:
    """A row's media files and cells (None, with a note on the grid, when its source or driving cannot be written)."""
    from PIL import Image

    first = entry.strips[next(m for m in grid.methods if m in entry.strips)]
    where = folder / slug(Path(entry.file_name).stem)
    where.mkdir(parents=True, exist_ok=True)
    try:
        Image.fromarray(first.source).save(where / "source.png")
        encode_mp4(first.driving, where / "driving.mp4", first.fps)
    except MEDIA_ERRORS as exc:
        grid.notes.append(f"{entry.item}: its source or driving video could not be written ({first_line(exc)})")
        return None
    grid.width = grid.width or int(first.source.shape[1])
    runs = {run["method"]: run for _, run in part.iterrows()}
    cells = {m: _cell(entry, m, i, where, out_dir, runs[m], files) for i, m in enumerate(grid.methods)}
    _mark_row_best(cells.values())
    return GridRow(entry.item, relative(where / "source.png", out_dir), relative(where / "driving.mp4", out_dir), cells)


def _grid(dataset: str, task: str, part: pd.DataFrame, files: dict[str, RunFiles], out_dir: Path) -> VideoGrid:
    part = part.assign(_order=part["method"].map(lambda m: order_key(METHOD_ORDER, m))).sort_values("_order")
    grid = VideoGrid(str(dataset), str(task), list(part["method"]), [])
    folder = out_dir / MEDIA / slug(str(dataset)) / slug(str(task))
    for entry in _entries(part, files, grid):
        row = _row(entry, part, files, grid, folder, out_dir)
        if row is not None:
            grid.rows.append(row)
    missing = [method_title(m) for m in grid.methods if not any(r.cells[m].video for r in grid.rows)]
    if missing and grid.rows:
        grid.notes.append(f"no saved videos for {', '.join(missing)} (run with --save-videos K)")
    if any(r.cells[m].video is None for r in grid.rows for m in grid.methods if method_title(m) not in missing):
        grid.notes.append("some runs kept other videos (a different --seed, --save-videos, --max-videos or "
                          "pairs), or a video could not be written: those cells say why")
    return grid


def video_grids(runs: pd.DataFrame, files: dict[str, RunFiles], out_dir: Path) -> list[VideoGrid]:
    """Split the kept videos of ``runs`` (one per dataset, method and task) into the page's media files."""
    keys = runs[["dataset", "task"]].drop_duplicates()
    ordered: list[Any] = sorted(keys.itertuples(index=False), key=lambda k: (order_key(DATASET_ORDER, k.dataset),
                                                                        order_key(tuple(PROTOCOL), k.task)))
    return [_grid(dataset, task, runs[(runs["dataset"] == dataset) & (runs["task"] == task)], files, out_dir)
            for dataset, task in ordered]
