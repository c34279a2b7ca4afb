"""The metric registry: built-in metrics in the paper's column order, outside ones from entry points.

Each metric class declares its facts once (``info``); a registered metric must be a
:class:`~bench.metrics.base.Metric` subclass whose ``info.name`` is its name.
"""
from __future__ import annotations

from typing import Any

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
