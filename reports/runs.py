"""Tracked runs as a pandas DataFrame: one row per MLflow run, ``mb.*`` tags as columns.

Columns: ``run_id``, ``run_name``, ``start_time``, ``origin`` (``measured``), the tag columns
of :data:`TAG_COLUMNS`, one column per logged metric (``l1``, ``l1_std``, ``l1_best``, ...) and
``na.<metric>`` holding the reason a metric is not available.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import pandas as pd

from bench import tracking

TAG_COLUMNS = ("kind", "method", "dataset", "train_dataset", "task", "variant", "num_refs", "seed", "convention",
               "status", "run_key", "weights", "precision", "items", "backends", "invocation", "train_seed")
#: what makes two runs' numbers comparable (besides method and variant): the same test items scored the same way
PROTOCOL_TAGS = ("dataset", "task", "num_refs", "seed", "convention", "precision", "items", "backends")
#: ``mb.weights`` of a run whose learned weights were never trained (``bench run --random-init``)
RANDOM_INIT = "random-init"
#: identity of a cell of the benchmark (the regression gate keys its baseline on it)
RUN_KEY = ("method", "dataset", "task", "variant")
DEFAULT_VARIANTS = ("default", "full")
NA_PREFIX = "na."


def run_record(run: Any) -> dict[str, Any]:
    """One MLflow ``Run`` as a flat dict of tags, metrics and N/A reasons."""
    tags = run.data.tags
    record: dict[str, Any] = {
        "run_id": run.info.run_id,
        "run_name": tags.get("mlflow.runName", ""),
        "start_time": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC"),
        "origin": "measured",
        "artifact_uri": run.info.artifact_uri,
    }
    for name in TAG_COLUMNS:
        record[name] = tags.get(tracking.TAG_PREFIX + name)
    for key, value in tags.items():
        if key.startswith(tracking.TAG_PREFIX + NA_PREFIX):
            record[key[len(tracking.TAG_PREFIX):]] = value
    record.update(run.data.metrics)
    return record


def runs_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """DataFrame from run records with typed columns (num_refs / seed as nullable integers)."""
    frame = pd.DataFrame(list(records))
    for name in ("run_id", "run_name", "origin", *TAG_COLUMNS):
        if name not in frame:
            frame[name] = None
    for name in ("num_refs", "seed", "train_seed"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("Int64")
    return frame


def load_runs(kind: str | None = "eval", complete_only: bool = True, random_init: bool = False,
              **filter_tags: str) -> pd.DataFrame:
    """Runs of the tracking store (``MLFLOW_TRACKING_URI`` or ./mlflow.db), newest first; runs of untrained
    models (``--random-init``) only with ``random_init``."""
    runs = tracking.find_runs(filter_tags, kind=kind)
    frame = runs_frame(run_record(r) for r in runs)
    if complete_only and len(frame):
        frame = frame[frame["status"] == "complete"]
    if not random_init and len(frame):
        frame = frame[frame["weights"] != RANDOM_INIT]
    return frame.reset_index(drop=True)


def metric_names(frame: pd.DataFrame) -> list[str]:
    """Plain metric columns present in ``frame`` (no ``_std``/``_best`` suffix, no tag column)."""
    skip = {"run_id", "run_name", "start_time", "origin", "artifact_uri", "table", "label", *TAG_COLUMNS}
    names = []
    for column in frame.columns:
        if column in skip or column.startswith(NA_PREFIX) or column.endswith(("_std", "_best")):
            continue
        if pd.api.types.is_numeric_dtype(frame[column]):
            names.append(column)
    return names


def latest(frame: pd.DataFrame, keys: Iterable[str] = RUN_KEY) -> pd.DataFrame:
    """Newest run per combination of ``keys`` (missing tag values count as their own value)."""
    if frame.empty:
        return frame
    keys = list(keys)
    ordered = frame.sort_values("start_time", ascending=False, kind="stable")
    return ordered.drop_duplicates(subset=keys, keep="first").reset_index(drop=True)


def compact_view(frame: pd.DataFrame) -> pd.DataFrame:
    """Runs for reading: tags, metric means and best-of-references, the N/A metrics by name."""
    tags = ["run_id", "start_time", "method", "dataset", "train_dataset", "task", "variant", "num_refs", "seed"]
    means = [m for m in metric_names(frame) if not m.endswith(("_videos", "_frames"))]
    best = [f"{m}_best" for m in means if f"{m}_best" in frame.columns]
    na_columns = [c for c in frame.columns if c.startswith(NA_PREFIX) and not c.endswith("_best")]
    view = frame[tags + means + best].copy()
    view["run_id"] = view["run_id"].str[:8]
    view["start_time"] = view["start_time"].dt.strftime("%Y-%m-%d %H:%M:%S")
    view["n/a"] = frame[na_columns].apply(
        lambda row: ", ".join(c[len(NA_PREFIX):] for c, v in row.items() if isinstance(v, str)), axis=1) if na_columns else ""
    return view.dropna(axis=1, how="all")
