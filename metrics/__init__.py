"""Metric registry (L1, PSNR, SSIM, MS-SSIM, LPIPS, FID, AKD, CSIM, AED).

Outside packages register metric classes in the ``motionbench.metrics`` entry-point group.
"""
from __future__ import annotations

from bench.metrics.base import Metric, MetricResult
from bench.registry import Registry

METRICS: Registry[type[Metric]] = Registry("metric", "motionbench.metrics")

__all__ = ["METRICS", "Metric", "MetricResult"]
