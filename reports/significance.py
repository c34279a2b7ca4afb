"""Which values of a table column are marked: the significantly best one, or all those tied with the best.

Per group and metric, the best value is **bold** only when it is significantly better than the
runner-up; otherwise every value not significantly worse than the best is **marked** (underlined
in LaTeX and HTML, ``<u>`` in Markdown). "Significantly better" is the paired test of
:mod:`bench.reports.compare`: the 95% paired cluster-bootstrap interval of the difference over the
test videos both runs scored excludes zero. Runs of metrics without per-video values (FID, KID,
FVD) are compared by their own intervals (significant when they do not overlap, a conservative
rule). A column where some pair has neither falls back to bolding the best value (ties all bold),
the only rule for published rows, which have no intervals.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from bench.metrics.bootstrap import IntervalSpec
from bench.reports.compare import PerVideo, intervals_disjoint, paired_change, significantly_better
from bench.reports.metric_info import higher_is_better, is_better, known

#: ``per_video.csv`` of a run (``load_runs`` record) or None
PerVideoFetch = Callable[[Mapping[str, Any]], pd.DataFrame | None]
SPEC = IntervalSpec(resamples=2000)
RULE = ("Bold: the best value when it is significantly better than the second (the 95% paired bootstrap "
        "interval of their difference over the same test videos excludes 0; FID, KID, FVD: the two runs' "
        "intervals do not overlap); otherwise every value not significantly worse than the best is underlined.")


class _Marker:
    """Significance of ``best`` over ``other`` for one task and metric, reading per-video tables once per run."""

    def __init__(self, fetch: PerVideoFetch | None) -> None:
        self.fetch = fetch
        self.tables: dict[str, pd.DataFrame | None] = {}

    def per_video(self, run: Mapping[str, Any] | None, metric: str) -> PerVideo | None:
        if run is None or self.fetch is None:
            return None
        run_id = str(run["run_id"])
        if run_id not in self.tables:
            self.tables[run_id] = self.fetch(run)
        return PerVideo.from_table(self.tables[run_id], metric)

    def better(self, best: Any, other: Any, task: str, metric: str) -> bool | None:
        """Whether ``best``'s value is significantly better than ``other``'s (None: no interval to tell)."""
        higher = higher_is_better(metric)
        runs = (best.runs.get(task), other.runs.get(task))
        mine, theirs = (self.per_video(run, metric) for run in runs)
        if mine is not None and theirs is not None:
            convention = str(runs[0].get("convention") or "fomm")
            return significantly_better(paired_change(theirs, mine, convention, SPEC), higher)
        cells = (best.cells[(task, metric)], other.cells[(task, metric)])
        if cells[0].ci is not None and cells[1].ci is not None:
            return intervals_disjoint(cells[0].ci, cells[1].ci)
        return None


def _classic(cells: Sequence[Any], metric: str) -> None:
    values = [c.value for c in cells if c.value is not None]
    best = values[0]
    for value in values[1:]:
        if is_better(metric, value, best):
            best = value
    for cell in cells:
        cell.bold = cell.value is not None and cell.value == best


def mark_column(rows: Sequence[Any], task: str, metric: str, marker: _Marker) -> None:
    """Bold / underline one metric's cells among ``rows`` (needs two values and a known direction)."""
    ranked = [r for r in rows if r.cells[(task, metric)].value is not None]
    if len(ranked) < 2 or not known(metric):
        return
    ranked.sort(key=lambda r: r.cells[(task, metric)].value, reverse=higher_is_better(metric))
    best = ranked[0]
    verdicts = [marker.better(best, other, task, metric) for other in ranked[1:]]
    if any(v is None for v in verdicts):
        _classic([r.cells[(task, metric)] for r in rows], metric)
        return
    if verdicts[0] and is_better(metric, best.cells[(task, metric)].value, ranked[1].cells[(task, metric)].value):
        best.cells[(task, metric)].bold = True
        return
    for row, verdict in zip(ranked, [False, *verdicts]):
        row.cells[(task, metric)].tied = not verdict


def mark_rows(rows: Sequence[Any], columns: Sequence[Any], fetch: PerVideoFetch | None) -> None:
    """Mark every column of one group's rows (see the module docstring)."""
    marker = _Marker(fetch)
    for column in columns:
        for metric in column.metrics:
            mark_column(rows, column.task, metric, marker)
