"""Metric registry (L1, PSNR, SSIM, MS-SSIM, LPIPS, FID, AKD, CSIM, AED).

Outside packages register metric classes in the ``motionbench.metrics`` entry-point group.
Build metrics with :func:`build_metric` (domain-aware) rather than from the classes::

    metric = build_metric("akd", spec.domain, device, weights_dir=None, backend=None)
    metric.update(generated, real, video=name, source=source_image)  # B x 3 x H x W in [0, 1]
    saved = metric.state()          # picklable; another instance can merge(saved)
    result = metric.compute()       # MetricResult(value, per_video, na_reason, extra)

Per-video value: mean over that video's frames; dataset value: mean over videos (FOMM's
convention), except FID (one distance over all frames pooled). Results are written with
``bench.metrics.report_io.write_results``.
"""
from __future__ import annotations

from bench.metrics.base import Metric, MetricResult
from bench.registry import Registry

METRICS: Registry[type[Metric]] = Registry("metric", "motionbench.metrics")


def _register_builtin() -> None:
    from bench.metrics.akd import AKD
    from bench.metrics.fid import FID
    from bench.metrics.identity import AED, CSIM
    from bench.metrics.lpips_metric import LPIPS
    from bench.metrics.pixel import L1, PSNR
    from bench.metrics.ssim import MSSSIM, SSIM

    for cls in (L1, PSNR, SSIM, MSSSIM, LPIPS, FID, AKD, CSIM, AED):
        METRICS.register(cls.name, cls)


_register_builtin()

from bench.metrics.factory import DOMAINS, NotApplicable, applicable, build_metric  # noqa: E402

__all__ = ["METRICS", "DOMAINS", "Metric", "MetricResult", "NotApplicable", "applicable", "build_metric"]
