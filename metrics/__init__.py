"""Metric registry (L1, LPIPS, FID, MS-SSIM, SSIM, PSNR, CSIM, AKD, AED; KID and FVD on request).

Each metric class declares its facts once (``info``: :class:`~bench.metrics.base.MetricInfo`)
and is registered under ``info.name``; outside packages register classes in the
``motionbench.metrics`` entry-point group. Build metrics with :func:`build_metric` (domain- and
task-aware) rather than from the classes::

    metric = build_metric("akd", spec.domain, device, weights_dir=None, backend=None)
    metric.update(generated, driving, video=name)   # B x 3 x H x W in [0, 1]
    saved = metric.state()          # picklable; another instance can merge(saved)
    result = aggregate(metric.compute(), "fomm", IntervalSpec())   # MetricResult(value, per_video, ci, ...)

``compute`` returns what was measured per video (:class:`~bench.metrics.aggregation.Measurement`);
:func:`~bench.metrics.aggregation.aggregate` turns it into the dataset value by the run's
convention (frames pooled, or the mean of per-video means; FID, KID, FVD: one value over all
frames or clips) with its bootstrap interval. Results are written with
``bench.metrics.report_io.write_results``.
"""
from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module that defines it, loaded on first use (PEP 562): importing a light part of the
#: package (the aggregation step, the bootstrap) does not load every metric and torch
_EXPORTS = {"METRICS": "registry", "DOMAINS": "factory", "NotApplicable": "factory", "applicable": "factory",
            "build_metric": "factory", "metric_info": "factory", "Metric": "base", "MetricInfo": "base",
            "MetricResult": "aggregation"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bench.metrics' has no attribute {name!r}")
    return getattr(importlib.import_module(f"bench.metrics.{_EXPORTS[name]}"), name)
