"""How metrics are labelled, formatted and ranked in tables, figures and the regression gate.

Every fact comes from the metric's declaration in the registry (``bench.metrics.METRICS``,
``info``). A metric that is not registered here (logged by another installation, or only in a
published table) is shown under its own name with 3 decimals and is never ranked or gated,
since its direction is unknown.
"""
from __future__ import annotations

import math

from bench.metrics.base import MetricInfo

UNKNOWN_DECIMALS = 3


def info(metric: str) -> MetricInfo | None:
    """The registered facts of ``metric`` (None when no metric of that name is registered)."""
    from bench.metrics import METRICS

    return METRICS.get(metric).info if metric in METRICS else None


def known(metric: str) -> bool:
    return info(metric) is not None


def higher_is_better(metric: str) -> bool:
    """Direction of ``metric``; ``KeyError`` when it is not registered."""
    found = info(metric)
    if found is None:
        raise KeyError(f"direction of metric '{metric}' is unknown (not registered)")
    return found.higher_is_better


def label(metric: str) -> str:
    found = info(metric)
    return found.label if found else metric


def format_value(metric: str, value: float | None) -> str:
    """Fixed decimals per metric; values too small for them keep two significant digits (0.0061)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "N/A"
    found = info(metric)
    decimals = found.decimals if found else UNKNOWN_DECIMALS
    if value != 0 and abs(value) < 10 ** -(decimals - 1):
        return f"{value:.{1 - math.floor(math.log10(abs(value)))}f}"
    return f"{value:.{decimals}f}"


def is_better(metric: str, a: float, b: float) -> bool:
    """True when ``a`` is strictly better than ``b`` for ``metric``."""
    return a > b if higher_is_better(metric) else a < b
