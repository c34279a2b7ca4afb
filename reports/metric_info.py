"""How each metric is labelled, formatted and ranked in tables, figures and the regression gate.

The direction (lower or higher is better) comes from the metric registry when the metric is
registered there (``Metric.higher_is_better``); this table is the fallback for metrics that are
only known from published results or from runs made by other installations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    """Display facts of one metric: column label, direction and decimals shown."""

    label: str
    higher_is_better: bool
    decimals: int


METRIC_INFO: dict[str, MetricInfo] = {
    "l1": MetricInfo("L1", False, 3),
    "lpips": MetricInfo("LPIPS", False, 3),
    "fid": MetricInfo("FID", False, 2),
    "ms_ssim": MetricInfo("MS-SSIM", True, 2),
    "ssim": MetricInfo("SSIM", True, 2),
    "psnr": MetricInfo("PSNR", True, 2),
    "akd": MetricInfo("AKD", False, 2),
    "aed": MetricInfo("AED", False, 3),
    "csim": MetricInfo("CSIM", True, 2),
}


def higher_is_better(metric: str) -> bool:
    """Direction of ``metric``: the registry's ``higher_is_better`` when registered, else the table above."""
    try:
        from bench.metrics import METRICS

        if metric in METRICS:
            return bool(getattr(METRICS.get(metric), "higher_is_better"))
    except (ImportError, AttributeError):
        pass
    if metric in METRIC_INFO:
        return METRIC_INFO[metric].higher_is_better
    raise KeyError(f"direction of metric '{metric}' is unknown")


def label(metric: str) -> str:
    info = METRIC_INFO.get(metric)
    return info.label if info else metric


def format_value(metric: str, value: float | None) -> str:
    """Fixed decimals per metric; values too small for them keep two significant digits (0.0061)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "N/A"
    decimals = METRIC_INFO[metric].decimals if metric in METRIC_INFO else 3
    if value != 0 and abs(value) < 10 ** -(decimals - 1):
        return f"{value:.{1 - math.floor(math.log10(abs(value)))}f}"
    return f"{value:.{decimals}f}"


def is_better(metric: str, a: float, b: float) -> bool:
    """True when ``a`` is strictly better than ``b`` for ``metric``."""
    return a > b if higher_is_better(metric) else a < b
