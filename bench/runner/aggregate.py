"""From per-item records to the run's numbers: merge metric states, measure, aggregate (value, interval, ``_best``)."""
from __future__ import annotations

from typing import Any, Mapping

from bench.metrics.aggregation import MetricResult, aggregate
from bench.metrics.base import Metric
from bench.metrics.bootstrap import IntervalSpec


def merged_result(metric: Metric, states: list[dict[str, Any]], convention: str, spec: IntervalSpec | None,
                  name: str | None = None) -> MetricResult:
    """``metric``'s numbers over ``states`` (merged in the given order) under ``convention``, renamed to ``name``."""
    if not states:
        return MetricResult(name or metric.name, None, na_reason="no video was scored")
    metric.reset()
    for state in states:
        metric.merge(state)
    return aggregate(metric.compute(), convention, spec, name)


def aggregate_records(records: Mapping[str, dict[str, Any]], order: list[str], metrics: Mapping[str, Metric],
                      unavailable: Mapping[str, str], best_reason: str | None, convention: str,
                      spec: IntervalSpec | None, with_best: bool = True) -> tuple[dict[str, MetricResult], dict[str, str]]:
    """Results per metric in ``order`` (plain, then ``<metric>_best``) and the items left out with their reason.

    Items whose output was not finite are left out of every mean. ``unavailable`` metrics (not
    built: weights missing, not applicable) appear as N/A with their reason. ``best_reason`` is
    None when best-of-references applies, else why there are no ``_best`` numbers.
    """
    names = sorted(records)
    skipped = {v: records[v]["nonfinite"] for v in names if records[v]["nonfinite"]}
    kept = [v for v in names if v not in skipped]
    results: dict[str, MetricResult] = {}
    for metric_name in order:
        if metric_name in metrics:
            states = [records[v]["states"][metric_name] for v in kept]
            results[metric_name] = merged_result(metrics[metric_name], states, convention, spec)
        else:
            results[metric_name] = MetricResult(metric_name, None, na_reason=unavailable[metric_name])
    chosen = [records[v]["best"] for v in kept if records[v].get("best")]
    for metric_name in order if with_best else []:
        best_name = f"{metric_name}_best"
        if best_reason is not None:
            results[best_name] = MetricResult(best_name, None, na_reason=f"best-of-references: {best_reason}")
        elif metric_name in metrics:
            results[best_name] = merged_result(metrics[metric_name], [b["states"][metric_name] for b in chosen],
                                               convention, spec, best_name)
        else:
            results[best_name] = MetricResult(best_name, None, na_reason=unavailable[metric_name])
    return results, skipped
