"""Figures (seaborn, Agg backend), each saved as PNG and PDF.

- ``nviews``: every metric against the number of reference views N (the paper's Table 4);
- ``ablation``: one bar per variant and metric (Table 3);
- ``per_video_<dataset>_<task>``: distribution of each metric over the videos, per method,
  read from the ``per_video.csv`` artifact of each run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pandas as pd

from bench.reports.artifacts import per_video_table
from bench.reports.metric_info import known, label
from bench.reports.render import to_frame
from bench.reports.tables import METHOD_ORDER, Table, method_title, order_key

TASK_PREFIX = {"reconstruction": "Rec.", "animation": "Anim."}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(grid: Any, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in (".png", ".pdf"):
        path = out_dir / f"{stem}{suffix}"
        grid.savefig(path, dpi=150, bbox_inches="tight")
        paths.append(path)
    _pyplot().close(grid.figure if hasattr(grid, "figure") else grid)
    return paths


def table_long(table: Table) -> pd.DataFrame:
    """The table's values in long form: group, label, origin, keys, task, metric, value."""
    wide = to_frame(table)
    if wide.empty:
        return wide
    value_columns = [c for c in wide.columns if "." in c and not c.endswith(("_best", "_na"))]
    id_columns = [c for c in wide.columns if c not in value_columns and not c.endswith(("_best", "_na"))]
    long = wide.melt(id_vars=id_columns, value_vars=value_columns, var_name="column", value_name="value")
    long[["task", "metric"]] = long["column"].str.split(".", n=1, expand=True)
    long["panel"] = long["task"].map(TASK_PREFIX) + " " + long["metric"].map(label)
    return long.dropna(subset=["value"]).drop(columns="column")


def nviews_figure(table: Table, out_dir: Path) -> list[Path]:
    """Line plot of each metric against N, one panel per (task, metric), one line per group."""
    import seaborn as sns

    data = table_long(table)
    if data.empty:
        return []
    data["num_refs"] = data["num_refs"].astype(int)
    data["series"] = data["group"] + data["origin"].map({"measured": "", "reported": " (reported)"})
    points = data.groupby(["panel", "series"])["num_refs"].transform("nunique")
    data = data[points >= 2]  # a panel needs a line: two N or more
    if data.empty:
        return []
    grid = sns.relplot(data=data, x="num_refs", y="value", hue="series", col="panel", kind="line", marker="o",
                       col_wrap=min(4, data["panel"].nunique()), height=2.4, aspect=1.2,
                       facet_kws={"sharey": False})
    grid.set_axis_labels("N (reference views)", "")
    grid.set_titles("{col_name}")
    for axis in grid.axes.flat:
        axis.xaxis.get_major_locator().set_params(integer=True)
    return _save(grid, out_dir, "nviews")


def ablation_figure(table: Table, out_dir: Path) -> list[Path]:
    """Bars of each metric per variant, one panel per (task, metric)."""
    import seaborn as sns

    data = table_long(table)
    if data.empty:
        return []
    grid = sns.catplot(data=data, x="label", y="value", hue="group", col="panel", kind="bar",
                       col_wrap=min(4, data["panel"].nunique()), height=2.6, aspect=1.2, sharey=False)
    grid.set_axis_labels("", "")
    grid.set_titles("{col_name}")
    for axis in grid.axes.flat:
        axis.tick_params(axis="x", labelrotation=30)
    return _save(grid, out_dir, "ablation")


def per_video_frame(runs: pd.DataFrame, fetch: Callable[[str], pd.DataFrame | None] | None = None) -> pd.DataFrame:
    """Per-video metric values of ``runs`` in long form: method, dataset, task, video, metric, value."""
    fetch = fetch or per_video_table
    parts = []
    for _, run in runs.iterrows():
        table = fetch(run["run_id"])
        if table is None or table.empty:
            continue
        metrics = [c for c in table.columns if known(c)]
        video = "video" if "video" in table.columns else table.columns[0]
        long = table.melt(id_vars=[video], value_vars=metrics, var_name="metric", value_name="value")
        long = long.rename(columns={video: "video"}).dropna(subset=["value"])
        parts.append(long.assign(method=run["method"], dataset=run["dataset"], task=run["task"]))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def per_video_figures(data: pd.DataFrame, out_dir: Path) -> list[Path]:
    """One figure per (dataset, task): box plot of every metric over videos, per method."""
    import seaborn as sns

    paths: list[Path] = []
    if data.empty:
        return paths
    data = data.assign(panel=data["metric"].map(label),
                       label=data["method"].map(method_title))
    for (dataset, task), part in data.groupby(["dataset", "task"], sort=True):
        order = [method_title(m) for m in sorted(part["method"].unique(), key=lambda m: order_key(METHOD_ORDER, m))]
        grid = sns.catplot(data=part, x="label", y="value", col="panel", kind="box", order=order,
                           col_wrap=min(4, part["panel"].nunique()), height=2.6, aspect=1.1, sharey=False)
        grid.set_axis_labels("", "")
        grid.set_titles("{col_name}")
        grid.figure.suptitle(f"{dataset}: {task}, per video", y=1.03)
        for axis in grid.axes.flat:
            axis.tick_params(axis="x", labelrotation=30)
        paths += _save(grid, out_dir, f"per_video_{dataset}_{task}")
    return paths
