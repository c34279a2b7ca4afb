"""From per-item records to the run's numbers: merge metric states, compute, add std and ``_best``."""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from bench.metrics.base import Metric, MetricResult


def with_std(result: MetricResult) -> MetricResult:
    """``result`` with the standard deviation over its per-video values in ``extra['std']``."""
    values = [v for v in result.per_video.values() if v is not None and math.isfinite(v)]
    if len(values) < 2 or not result.available:
        return result
    return MetricResult(result.name, result.value, result.per_video, result.na_reason,
                        {**result.extra, "std": float(np.std(values))})


def merged_result(metric: Metric, states: list[dict[str, Any]], name: str | None = None) -> MetricResult:
    """``metric``'s value over ``states`` (merged in the given order), renamed to ``name``."""
    metric.reset()
    for state in states:
        metric.merge(state)
    result = metric.compute() if states else MetricResult(metric.name, None, na_reason="no video was scored")
    result = with_std(result)
    if name:
        result = MetricResult(name, result.value, result.per_video, result.na_reason, result.extra)
    return result


def aggregate(records: Mapping[str, dict[str, Any]], order: list[str], metrics: Mapping[str, Metric],
              unavailable: Mapping[str, str], best_reason: str | None,
              with_best: bool = True) -> tuple[dict[str, MetricResult], dict[str, str]]:
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
            results[metric_name] = merged_result(metrics[metric_name], states)
        else:
            results[metric_name] = MetricResult(metric_name, None, na_reason=unavailable[metric_name])
    chosen = [records[v]["best"] for v in kept if records[v].get("best")]
    for metric_name in order if with_best else []:
        best_name = f"{metric_name}_best"
        if best_reason is not None:
            results[best_name] = MetricResult(best_name, None, na_reason=f"best-of-references: {best_reason}")
        elif metric_name in metrics:
            results[best_name] = merged_result(metrics[metric_name], [b["states"][metric_name] for b in chosen], best_name)
        else:
            results[best_name] = MetricResult(best_name, None, na_reason=unavailable[metric_name])
    return results, skipped
