"""``bench report compare``: every pair of methods of Table 1's runs, scored on the same test videos.

For each dataset, task and frame-wise metric, each pair (A, B) of methods in the paper's order gets
the paired change A - B of the dataset value with its 95% paired bootstrap interval and rliable's
probability that A is better than B with its interval (:mod:`bench.reports.compare`); the verdict
says which is significantly better (the interval of the change excludes 0) or that neither is.
The runs are those Table 1 shows (one protocol per dataset and task), so both sides scored the
same items.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable

import pandas as pd

from bench.metrics.bootstrap import IntervalSpec
from bench.reports.compare import PerVideo, paired_change, probability_of_improvement, significantly_better
from bench.reports.metric_info import higher_is_better, known
from bench.reports.runs import metric_names
from bench.reports.tables import METHOD_ORDER, default_fetch, method_title, order_key, table1_runs

SPEC = IntervalSpec(resamples=2000)
COLUMNS = ("dataset", "task", "metric", "a", "b", "videos", "a_minus_b", "ci_low", "ci_high", "p_a_better",
           "p_ci_low", "p_ci_high", "verdict")


def _verdict(change: Any, higher: bool, a: str, b: str) -> str:
    if significantly_better(change, higher):
        return f"{a} better"
    flipped = None if change is None or change.interval is None else type(change)(
        -change.delta, (-change.interval[1], -change.interval[0]), change.videos)
    return f"{b} better" if significantly_better(flipped, higher) else "no significant difference"


def _pair(metric: str, convention: str, a: tuple[str, PerVideo], b: tuple[str, PerVideo]) -> dict[str, Any] | None:
    higher = higher_is_better(metric)
    change = paired_change(b[1], a[1], convention, SPEC)  # a - b
    improvement = probability_of_improvement(a[1], b[1], higher, SPEC)
    if change is None or improvement is None:
        return None
    low, high = change.interval or (None, None)
    p, (p_low, p_high) = improvement[0], improvement[1] or (None, None)
    return {"metric": metric, "a": method_title(a[0]), "b": method_title(b[0]), "videos": change.videos,
            "a_minus_b": change.delta, "ci_low": low, "ci_high": high, "p_a_better": p, "p_ci_low": p_low,
            "p_ci_high": p_high, "verdict": _verdict(change, higher, method_title(a[0]), method_title(b[0]))}


def pairwise(frame: pd.DataFrame, dataset: str | None = None,
             fetch: Callable[[dict[str, Any]], pd.DataFrame | None] = default_fetch) -> pd.DataFrame:
    """One line per (dataset, task, metric, pair of methods) with per-video values on both sides."""
    runs = table1_runs(frame) if len(frame) else frame
    if dataset is not None and len(runs):
        runs = runs[runs["dataset"] == dataset]
    records = []
    for (name, task), group in runs.groupby(["dataset", "task"], sort=True) if len(runs) else []:
        group = group.sort_values("method", key=lambda m: m.map(lambda v: order_key(METHOD_ORDER, v)))
        tables = {row["method"]: fetch(row.to_dict()) for _, row in group.iterrows()}
        convention = str(group["convention"].dropna().iloc[0]) if group["convention"].notna().any() else "fomm"
        for metric in [m for m in metric_names(group) if known(m)]:
            values = {m: PerVideo.from_table(t, metric) for m, t in tables.items()}
            present = [(m, v) for m, v in values.items() if v is not None]
            for a, b in itertools.combinations(present, 2):
                line = _pair(metric, convention, a, b)
                if line is not None:
                    records.append({"dataset": name, "task": task, **line})
    return pd.DataFrame.from_records(records, columns=COLUMNS)
