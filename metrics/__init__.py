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

from typing import Any

from bench.metrics.aggregation import MetricResult
from bench.metrics.base import Metric, MetricInfo
from bench.registry import Registry


def _metric_class(name: str, obj: Any) -> type[Metric]:
    """A registered metric must be a :class:`Metric` subclass whose ``info.name`` is its name."""
    info = getattr(obj, "info", None)
    if not (isinstance(obj, type) and issubclass(obj, Metric)) or not isinstance(info, MetricInfo):
        raise TypeError(f"metric '{name}' must be a bench.metrics.base.Metric subclass with an `info` "
                        f"(MetricInfo), got {obj!r}")
    if info.name != name:
        raise ValueError(f"metric registered as '{name}' declares info.name '{info.name}'")
    return obj


METRICS: Registry[type[Metric]] = Registry("metric", "motionbench.metrics", adapt=_metric_class)


def _register_builtin() -> None:
    from bench.metrics.akd import AKD
    from bench.metrics.fid import FID
    from bench.metrics.fvd import FVD
    from bench.metrics.identity import AED, CSIM
    from bench.metrics.kid import KID
    from bench.metrics.lpips_metric import LPIPS
    from bench.metrics.pixel import L1, PSNR
    from bench.metrics.ssim import MSSSIM, SSIM

    # registration order is the paper's column order (Table 1)
    for cls in (L1, LPIPS, FID, MSSSIM, SSIM, PSNR, CSIM, AKD, AED, KID, FVD):
        METRICS.register(cls.info.name, cls)


_register_builtin()

from bench.metrics.factory import DOMAINS, NotApplicable, applicable, build_metric, metric_info  # noqa: E402

__all__ = ["METRICS", "DOMAINS", "Metric", "MetricInfo", "MetricResult", "NotApplicable", "applicable",
           "build_metric", "metric_info"]
