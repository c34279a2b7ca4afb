"""The regression gate: latest complete runs against a baseline YAML, metric by metric.

Baseline format (keyed by method, dataset, task, variant)::

    source: bench demo --quick                # what produced the runs (kept by --update)
    tolerance: {abs: 0.0, rel: 0.05}         # default for every metric
    tolerances: {fid: {abs: 5.0, rel: 0.1}}  # per metric (``l1_best`` falls back to ``l1``)
    runs:
      - {method: copy-source, dataset: synthetic, task: reconstruction, variant: default,
         metrics: {l1: 0.0812, psnr: 17.2}}

A metric moved by more than ``max(abs, rel * |baseline|)`` in its bad direction is a
regression, in its good direction an improvement; a baseline entry or metric the latest runs
lack is missing, which fails the gate too (a gate that passes on no data proves nothing).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import yaml

from bench.config import load_yaml
from bench.errors import ConfigError
from bench.reports.metric_info import higher_is_better
from bench.reports.runs import RUN_KEY, latest, metric_names

DEFAULT_TOLERANCE = {"abs": 0.0, "rel": 0.05}
STATUSES = ("regression", "missing", "improved", "within", "same")


@dataclass(frozen=True)
class Tolerance:
    abs: float = 0.0
    rel: float = 0.0

    def allowed(self, baseline: float) -> float:
        return max(self.abs, self.rel * abs(baseline))


@dataclass(frozen=True)
class Baseline:
    default: Tolerance
    per_metric: dict[str, Tolerance]
    runs: dict[tuple[str, ...], dict[str, float]]
    source: str | None = None

    def tolerance(self, metric: str) -> Tolerance:
        base = metric.removesuffix("_best")
        return self.per_metric.get(metric) or self.per_metric.get(base) or self.default


def base_metric(metric: str) -> str:
    return metric.removesuffix("_best")


def gated_metric(metric: str) -> bool:
    """Metrics with a known direction (means and best-of-references; not timings or counts)."""
    try:
        higher_is_better(base_metric(metric))
    except KeyError:
        return False
    return True


def _tolerance(data: Any, where: str) -> Tolerance:
    if not isinstance(data, Mapping) or set(data) - {"abs", "rel"}:
        raise ConfigError(f"{where}: expected a mapping with 'abs' and/or 'rel', got {data!r}")
    try:
        return Tolerance(float(data.get("abs", 0.0)), float(data.get("rel", 0.0)))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: tolerances must be numbers, got {data!r}") from None


def load_baseline(path: str | Path) -> Baseline:
    data = load_yaml(path)
    entries = data.get("runs") or []
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: 'runs' must be a list of mappings (method, dataset, task, variant, metrics)")
    runs: dict[tuple[str, ...], dict[str, float]] = {}
    for i, entry in enumerate(entries):
        where = f"{path}: runs[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: expected a mapping with {', '.join(RUN_KEY)} and metrics, got {entry!r}")
        missing = [k for k in RUN_KEY if not entry.get(k)]
        if missing:
            raise ConfigError(f"{where}: missing '{missing[0]}'")
        metrics = entry.get("metrics")
        if not isinstance(metrics, Mapping) or not metrics:
            raise ConfigError(f"{where}: 'metrics' must be a non-empty mapping")
        bad = [k for k, v in metrics.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad:
            raise ConfigError(f"{where}: metric '{bad[0]}' must be a number, got {metrics[bad[0]]!r}")
        runs[tuple(str(entry[k]) for k in RUN_KEY)] = {str(k): float(v) for k, v in metrics.items()}
    tolerances = data.get("tolerances") or {}
    if not isinstance(tolerances, Mapping):
        raise ConfigError(f"{path}: 'tolerances' must map metric names to {{abs, rel}}")
    per_metric = {str(k): _tolerance(v, f"{path}: tolerances.{k}") for k, v in tolerances.items()}
    source = str(data["source"]) if data.get("source") else None
    return Baseline(_tolerance(data.get("tolerance", DEFAULT_TOLERANCE), f"{path}: tolerance"), per_metric, runs, source)


def latest_metrics(frame: pd.DataFrame) -> dict[tuple[str, ...], dict[str, float]]:
    """Gated metrics of the newest complete run per (method, dataset, task, variant)."""
    out: dict[tuple[str, ...], dict[str, float]] = {}
    if frame.empty:
        return out
    names = [m for m in metric_names(frame) if gated_metric(m)]
    names += [f"{m}_best" for m in names if f"{m}_best" in frame.columns]
    for _, run in latest(frame, RUN_KEY).iterrows():
        key = tuple(str(run[k]) for k in RUN_KEY)
        values = {m: float(run[m]) for m in names if m in run and pd.notna(run[m]) and math.isfinite(run[m])}
        if values:
            out[key] = values
    return out


def compare(baseline: Baseline, current: Mapping[tuple[str, ...], Mapping[str, float]]) -> pd.DataFrame:
    """One line per baseline metric: baseline, current, delta, allowed move and status."""
    records = []
    for key, metrics in baseline.runs.items():
        have = current.get(key, {})
        for metric, old in metrics.items():
            record = dict(zip(RUN_KEY, key), metric=metric, baseline=old, current=None, delta=None,
                          allowed=baseline.tolerance(metric).allowed(old), status="missing")
            new = have.get(metric)
            if new is not None:
                delta = new - old
                worse = -delta if higher_is_better(base_metric(metric)) else delta
                record.update(current=new, delta=delta)
                if delta == 0:
                    record["status"] = "same"
                elif worse > record["allowed"]:
                    record["status"] = "regression"
                elif -worse > record["allowed"]:
                    record["status"] = "improved"
                else:
                    record["status"] = "within"
            records.append(record)
    columns = [*RUN_KEY, "metric", "baseline", "current", "delta", "allowed", "status"]
    return pd.DataFrame.from_records(records, columns=columns)


def failed(report: pd.DataFrame) -> bool:
    return bool(report["status"].isin(["regression", "missing"]).any())


def write_baseline(path: str | Path, current: Mapping[tuple[str, ...], Mapping[str, float]],
                   previous: Baseline | None = None) -> Path:
    """Baseline YAML from ``current`` keeping the tolerances of ``previous`` (defaults otherwise)."""
    default = previous.default if previous else Tolerance(**DEFAULT_TOLERANCE)
    data: dict[str, Any] = {"source": previous.source} if previous and previous.source else {}
    data["tolerance"] = {"abs": default.abs, "rel": default.rel}
    if previous and previous.per_metric:
        data["tolerances"] = {m: {"abs": t.abs, "rel": t.rel} for m, t in sorted(previous.per_metric.items())}
    data["runs"] = [
        {**dict(zip(RUN_KEY, key)), "metrics": {m: float(v) for m, v in sorted(metrics.items())}}
        for key, metrics in sorted(current.items())
    ]
    header = ("# Regression baseline for `bench check` (keys: method, dataset, task, variant).\n"
              "# Regenerate from the latest complete runs: bench check --baseline <this file> --update\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, width=120))
    return path
