"""Figures (seaborn, Agg backend), each saved as PNG and PDF.

- ``nviews``: every metric against the number of reference views N (the paper's Table 4);
- ``ablation``: one bar per variant and metric (Table 3);
- ``per_video_<dataset>_<task>``: distribution of each metric over the videos, per method (a box
  plot with every video as a point), read from the ``per_video.csv`` artifact of each run.

Values of the N-view and ablation figures carry their 95% intervals as error bars.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pandas as pd

from bench.reports.artifacts import per_video_table
from bench.reports.metric_info import known, label
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
    """The table's values in long form: group, label, origin, keys, task, metric, value and its interval
    (``low`` / ``high``, NaN where the value has none)."""
    records = []
    for group in table.groups:
        for row in group.rows:
            for column in table.columns:
                for metric in column.metrics:
                    cell = row.cells[(column.task, metric)]
                    if cell.value is None:
                        continue
                    low, high = cell.ci or (float("nan"), float("nan"))
                    records.append({"group": " ".join(group.lines), "label": row.label, "origin": row.origin,
                                    **row.keys, "task": column.task, "metric": metric, "value": cell.value,
                                    "low": low, "high": high,
                                    "panel": f"{TASK_PREFIX[column.task]} {label(metric)}"})
    return pd.DataFrame.from_records(records)


def _panels(data: pd.DataFrame, draw: Callable[[Any, pd.DataFrame, list[str]], None], stem: str,
            out_dir: Path, width: float = 3.0) -> list[Path]:
    """One axis per panel (task and metric) in a grid of at most 4 columns; ``draw(axis, part, series)``
    draws a panel; one legend for the figure."""
    plt = _pyplot()
    panels = list(dict.fromkeys(data["panel"]))
    series = list(dict.fromkeys(data["series"]))
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    figure, axes = plt.subplots(rows, cols, figsize=(width * cols, 2.6 * rows), squeeze=False)
    for axis, panel in zip(axes.flat, panels):
        draw(axis, data[data["panel"] == panel], series)
        axis.set_title(panel)
    for axis in list(axes.flat)[len(panels):]:
        axis.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(3, len(series)))
    figure.tight_layout()
    return _save(figure, out_dir, stem)


def _yerr(part: pd.DataFrame) -> Any:
    """Error bars from the intervals (none where a value has no interval)."""
    return [(part["value"] - part["low"]).fillna(0).clip(lower=0), (part["high"] - part["value"]).fillna(0).clip(lower=0)]


def nviews_figure(table: Table, out_dir: Path) -> list[Path]:
    """Each metric against N with its 95% interval, one panel per (task, metric), one line per group."""
    data = table_long(table)
    if data.empty:
        return []
    data["num_refs"] = data["num_refs"].astype(int)
    data["series"] = data["group"] + data["origin"].map({"measured": "", "reported": " (reported)"})
    points = data.groupby(["panel", "series"])["num_refs"].transform("nunique")
    data = data[points >= 2]  # a panel needs a line: two N or more
    if data.empty:
        return []

    def draw(axis: Any, part: pd.DataFrame, series: list[str]) -> None:
        for i, name in enumerate(series):
            line = part[part["series"] == name].sort_values("num_refs")
            if len(line):
                axis.errorbar(line["num_refs"], line["value"], yerr=_yerr(line), marker="o", capsize=3,
                              color=f"C{i}", label=name)
        axis.set_xlabel("N (reference views)")
        axis.xaxis.get_major_locator().set_params(integer=True)
        axis.ticklabel_format(axis="y", useOffset=False)
    return _panels(data, draw, "nviews", out_dir)


def ablation_figure(table: Table, out_dir: Path) -> list[Path]:
    """Bars of each metric per variant with their 95% intervals, one panel per (task, metric)."""
    data = table_long(table)
    if data.empty:
        return []
    data["series"] = data["group"]

    def draw(axis: Any, part: pd.DataFrame, series: list[str]) -> None:
        labels = list(dict.fromkeys(part["label"]))
        width = 0.8 / len(series)
        for i, name in enumerate(series):
            bars = part[part["series"] == name].set_index("label").reindex(labels)
            x = [j + (i - (len(series) - 1) / 2) * width for j in range(len(labels))]
            axis.bar(x, bars["value"], width, yerr=_yerr(bars), capsize=3, color=f"C{i}", label=name)
        axis.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        axis.ticklabel_format(axis="y", useOffset=False)
    return _panels(data, draw, "ablation", out_dir, width=3.4)


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
        grid = sns.catplot(data=part, x="label", y="value", col="panel", kind="box", order=order, fliersize=0,
                           col_wrap=min(4, part["panel"].nunique()), height=2.6, aspect=1.1, sharey=False)
        grid.map_dataframe(sns.stripplot, x="label", y="value", order=order, color="0.25", size=3, jitter=0.15)
        grid.set_axis_labels("", "")
        grid.set_titles("{col_name}")
        grid.figure.suptitle(f"{dataset}: {task}, per video", y=1.03)
        for axis in grid.axes.flat:
            axis.tick_params(axis="x", labelrotation=30)
        paths += _save(grid, out_dir, f"per_video_{dataset}_{task}")
    return paths
