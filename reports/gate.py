"""The regression gate: the latest runs against a baseline, video by video, with a paired bootstrap.

Baseline format (keyed by method, dataset, task, variant)::

    source: bench demo --quick                 # what produced the runs (kept by --update)
    tolerance: {abs: 0.0, rel: 0.01}          # default allowed move of every metric
    tolerances: {psnr: {abs: 0.1}}            # per metric (``l1_best`` falls back to ``l1``)
    interval: {method: percentile, level: 0.95, resamples: 2000, seed: 0}   # the paired bootstrap
    runs:
      - method: fomm
        dataset: synthetic
        task: reconstruction
        variant: default
        settings: {convention: fomm, precision: fp64, num_refs: 3, seed: 0, items: 1a2b3c4d5e6f7a8b,
                   backends: none}            # the protocol a run must have to be compared
        metrics: {l1: 0.1208, psnr: 15.97}    # the dataset values
        videos:                               # per_video.csv: each video's value and scored frames
          000_a: {l1: 0.1105, l1_frames: 32, psnr: 16.2, psnr_frames: 31}

The rule, per baseline metric: the latest complete run of the entry's key *and settings* is
scored against the baseline on the videos both have; the change of the dataset value (under the
entry's convention, recomputed from the per-video values and frames) gets a paired
cluster-bootstrap interval (both sides on the same resampled videos). It is a **regression**
when the whole interval lies beyond the allowed move ``max(abs, rel * |baseline|)`` in the
metric's bad direction, an **improvement** when it lies beyond it in the good direction, **same**
when nothing changed and **within** otherwise. Metrics without per-video values (FID, KID, FVD)
compare the dataset values. A baseline entry without a run of the same settings, a metric the
run lacks or videos it did not score are **missing**; missing and regression fail the gate (a
gate that passes on no data proves nothing).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd
import yaml

from bench.config import load_yaml
from bench.errors import ConfigError
from bench.metrics.bootstrap import IntervalSpec
from bench.reports.compare import PerVideo, paired_change
from bench.reports.metric_info import higher_is_better
from bench.reports.runs import RUN_KEY, latest, metric_names

DEFAULT_TOLERANCE = {"abs": 0.0, "rel": 0.01}
DEFAULT_INTERVAL = IntervalSpec(resamples=2000)
#: the run settings a baseline entry pins: a run with other ones is not compared with it
SETTINGS = ("convention", "precision", "num_refs", "seed", "items", "backends")
STATUSES = ("regression", "missing", "improved", "within", "same")
Key = tuple[str, ...]


@dataclass(frozen=True)
class Tolerance:
    abs: float = 0.0
    rel: float = 0.0

    def allowed(self, baseline: float) -> float:
        return max(self.abs, self.rel * abs(baseline))


@dataclass(frozen=True)
class Entry:
    """One baseline cell: the settings its runs must have, its dataset values and its per-video values."""

    settings: dict[str, str]
    metrics: dict[str, float]
    videos: dict[str, dict[str, float]] = field(default_factory=dict)

    def per_video(self, metric: str) -> PerVideo | None:
        values = {v: row[metric] for v, row in self.videos.items() if metric in row}
        if not values:
            return None
        frames = {v: int(row[f"{metric}_frames"]) for v, row in self.videos.items() if f"{metric}_frames" in row}
        return PerVideo(values, frames if len(frames) == len(values) else None)


@dataclass(frozen=True)
class Baseline:
    default: Tolerance
    per_metric: dict[str, Tolerance]
    runs: dict[Key, Entry]
    source: str | None = None
    interval: IntervalSpec = DEFAULT_INTERVAL

    def tolerance(self, metric: str) -> Tolerance:
        return self.per_metric.get(metric) or self.per_metric.get(base_metric(metric)) or self.default


def base_metric(metric: str) -> str:
    return metric.removesuffix("_best")


def gated_metric(metric: str) -> bool:
    """Metrics with a known direction (means and best-of-references; not timings or counts)."""
    try:
        higher_is_better(base_metric(metric))
    except KeyError:
        return False
    return True


# --- reading and writing the baseline -----------------------------------------------------------------

def _tolerance(data: Any, where: str) -> Tolerance:
    if not isinstance(data, Mapping) or set(data) - {"abs", "rel"}:
        raise ConfigError(f"{where}: expected a mapping with 'abs' and/or 'rel', got {data!r}")
    values = [data.get("abs", 0.0), data.get("rel", 0.0)]
    if not all(_finite(v) and v >= 0 for v in values):
        raise ConfigError(f"{where}: tolerances must be finite numbers >= 0, got {data!r}")
    return Tolerance(float(values[0]), float(values[1]))


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _numbers(data: Any, where: str) -> dict[str, float]:
    """A non-empty mapping of names to finite numbers (NaN, infinities, text and booleans are errors)."""
    if not isinstance(data, Mapping) or not data:
        raise ConfigError(f"{where}: expected a non-empty mapping of names to numbers, got {data!r}")
    bad = [k for k, v in data.items() if not _finite(v)]
    if bad:
        raise ConfigError(f"{where}: '{bad[0]}' must be a finite number, got {data[bad[0]]!r}")
    return {str(k): float(v) for k, v in data.items()}


def _entry(data: Any, where: str) -> tuple[Key, Entry]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping with {', '.join(RUN_KEY)}, settings and metrics, got {data!r}")
    for name in RUN_KEY:
        if not isinstance(data.get(name), str) or not data[name]:
            raise ConfigError(f"{where}: '{name}' must be a name, got {data.get(name)!r}")
    settings = data.get("settings") or {}
    if not isinstance(settings, Mapping) or set(settings) - set(SETTINGS):
        raise ConfigError(f"{where}: 'settings' must map some of {', '.join(SETTINGS)} to values, got {settings!r}")
    videos = data.get("videos") or {}
    if not isinstance(videos, Mapping):
        raise ConfigError(f"{where}: 'videos' must map video names to their per-video values")
    rows = {str(v): _numbers(row, f"{where}: videos.{v}") for v, row in videos.items()}
    entry = Entry({k: str(v) for k, v in settings.items()}, _numbers(data.get("metrics"), f"{where}: metrics"), rows)
    return tuple(str(data[k]) for k in RUN_KEY), entry


def _interval(data: Any, where: str) -> IntervalSpec:
    if data is None:
        return DEFAULT_INTERVAL
    if not isinstance(data, Mapping) or set(data) - {"method", "level", "resamples", "seed"}:
        raise ConfigError(f"{where}: expected a mapping of method, level, resamples, seed, got {data!r}")
    try:
        return IntervalSpec(str(data.get("method", "percentile")), float(data.get("level", 0.95)),
                            int(data.get("resamples", DEFAULT_INTERVAL.resamples)), seed=int(data.get("seed", 0))).validate()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_baseline(path: str | Path) -> Baseline:
    data = load_yaml(path)
    entries = data.get("runs") or []
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: 'runs' must be a list of mappings (method, dataset, task, variant, metrics)")
    runs = dict(_entry(entry, f"{path}: runs[{i}]") for i, entry in enumerate(entries))
    tolerances = data.get("tolerances") or {}
    if not isinstance(tolerances, Mapping):
        raise ConfigError(f"{path}: 'tolerances' must map metric names to {{abs, rel}}")
    per_metric = {str(k): _tolerance(v, f"{path}: tolerances.{k}") for k, v in tolerances.items()}
    source = str(data["source"]) if data.get("source") else None
    return Baseline(_tolerance(data.get("tolerance", DEFAULT_TOLERANCE), f"{path}: tolerance"), per_metric, runs,
                    source, _interval(data.get("interval"), f"{path}: interval"))


def run_settings(run: Mapping[str, Any]) -> dict[str, str]:
    """The :data:`SETTINGS` of a run (its ``mb.*`` tags) as text."""
    return {name: _text(run.get(name)) for name in SETTINGS if _text(run.get(name))}


def _text(value: Any) -> str:
    return "" if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) else str(value)


def entry_from_run(run: Mapping[str, Any], table: pd.DataFrame | None) -> Entry:
    """A baseline entry from a run row (``load_runs``) and its ``per_video.csv`` table."""
    names = [m for m in metric_names(pd.DataFrame([dict(run)])) if gated_metric(m)]
    names += [f"{m}_best" for m in names if _finite(run.get(f"{m}_best"))]
    metrics = {m: float(run[m]) for m in names if _finite(run.get(m))}
    videos: dict[str, dict[str, float]] = {}
    if table is not None:
        key = "video" if "video" in table.columns else table.columns[0]
        columns = [c for c in table.columns if c.removesuffix("_frames") in metrics]
        for _, row in table.iterrows():
            values = {c: int(row[c]) if c.endswith("_frames") else float(row[c]) for c in columns if _finite(row[c])}
            if values:
                videos[str(row[key])] = values
    return Entry(run_settings(run), metrics, videos)


def write_baseline(path: str | Path, entries: Mapping[Key, Entry], previous: Baseline | None = None) -> Path:
    """Baseline YAML from ``entries`` keeping the tolerances, source and interval of ``previous``."""
    default = previous.default if previous else Tolerance(**DEFAULT_TOLERANCE)
    spec = previous.interval if previous else DEFAULT_INTERVAL
    data: dict[str, Any] = {"source": previous.source} if previous and previous.source else {}
    data["tolerance"] = {"abs": default.abs, "rel": default.rel}
    if previous and previous.per_metric:
        data["tolerances"] = {m: {"abs": t.abs, "rel": t.rel} for m, t in sorted(previous.per_metric.items())}
    data["interval"] = {"method": spec.method, "level": spec.level, "resamples": spec.resamples, "seed": spec.seed}
    data["runs"] = [{**dict(zip(RUN_KEY, key)), "settings": dict(entry.settings),
                     "metrics": {m: v for m, v in sorted(entry.metrics.items())},
                     "videos": {v: {**row} for v, row in sorted(entry.videos.items())}}
                    for key, entry in sorted(entries.items())]
    header = ("# Regression baseline for `bench check` (keys: method, dataset, task, variant; see reports/gate.py).\n"
              "# Regenerate from the latest complete runs: bench check --baseline <this file> --update\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, width=120))
    return path


# --- comparing -------------------------------------------------------------------------------------

def matching_run(frame: pd.DataFrame, key: Key, settings: Mapping[str, str]) -> pd.Series | None:
    """The newest run of ``key`` whose settings are ``settings`` (None when there is none)."""
    if frame.empty:
        return None
    mask = pd.Series(True, index=frame.index)
    for name, value in zip(RUN_KEY, key):
        mask &= frame[name].astype(str) == value
    for name, value in settings.items():
        mask &= frame[name].map(_text) == value
    found = latest(frame[mask], RUN_KEY)
    return None if found.empty else found.iloc[0]


def _status(delta: float, low: float, high: float, allowed: float, higher: bool) -> str:
    """Where the change's interval lies relative to the allowed move, in the metric's direction."""
    if delta == 0 and low == 0 and high == 0:
        return "same"
    worse_low, worse_high = (-high, -low) if higher else (low, high)
    if worse_low > allowed:
        return "regression"
    if worse_high < -allowed:
        return "improved"
    return "within"


def compare_metric(entry: Entry, metric: str, run: pd.Series | None, table: pd.DataFrame | None,
                   allowed: float, spec: IntervalSpec) -> dict[str, Any]:
    """One line of the report: baseline, current, change, its interval, the allowed move and the status."""
    old = entry.metrics[metric]
    line = {"metric": metric, "baseline": old, "current": None, "delta": None, "ci_low": None, "ci_high": None,
            "allowed": allowed, "status": "missing", "videos": None}
    if run is None or not _finite(run.get(metric)):
        return line
    line["current"] = float(run[metric])
    higher = higher_is_better(base_metric(metric))
    before, after = entry.per_video(metric), PerVideo.from_table(table, metric)
    if before is None:  # no per-video values (FID, KID, FVD): the dataset values
        delta = line["current"] - old
        return {**line, "delta": delta, "ci_low": delta, "ci_high": delta,
                "status": _status(delta, delta, delta, allowed, higher)}
    if after is None or set(before.values) - set(after.values):
        return line  # the run lacks per-video values, or videos the baseline scored
    change = paired_change(before, after, entry.settings.get("convention", "fomm"), spec)
    low, high = change.interval or (change.delta, change.delta)
    return {**line, "delta": change.delta, "ci_low": low, "ci_high": high, "videos": change.videos,
            "status": _status(change.delta, low, high, allowed, higher)}


def compare(baseline: Baseline, frame: pd.DataFrame,
            per_video: Callable[[pd.Series], pd.DataFrame | None]) -> pd.DataFrame:
    """One line per baseline metric; ``per_video`` reads a run's ``per_video.csv``."""
    records = []
    for key, entry in baseline.runs.items():
        run = matching_run(frame, key, entry.settings)
        table = per_video(run) if run is not None else None
        for metric in entry.metrics:
            line = compare_metric(entry, metric, run, table, baseline.tolerance(metric).allowed(entry.metrics[metric]),
                                  baseline.interval)
            records.append({**dict(zip(RUN_KEY, key)), **line})
    columns = [*RUN_KEY, "metric", "baseline", "current", "delta", "ci_low", "ci_high", "allowed", "status", "videos"]
    return pd.DataFrame.from_records(records, columns=columns)


def failed(report: pd.DataFrame) -> bool:
    return bool(report["status"].isin(["regression", "missing"]).any())
