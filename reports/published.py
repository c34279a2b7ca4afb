"""The paper's published results (``configs/published/*.yaml``) as rows shaped like tracked runs.

Each YAML holds one table: ``table`` (its name), ``source``, ``labels`` (row labels the paper
uses), ``defaults`` (tag values shared by all rows) and ``rows``: tag values (method, dataset,
task, train_dataset, variant, num_refs) and metric values, ``<metric>_best`` for the numbers in
parentheses, ``null`` plus ``na: {metric: reason}`` where a metric does not apply.
The frame has the columns of :func:`bench.reports.runs.load_runs` with ``origin = "reported"``,
plus ``digits.<metric>`` (and ``digits.<metric>_best``): the decimals the paper printed, read
from each number's YAML text (``0.070`` -> 3), so tables show the paper's digits, trailing zeros
included. Values stay floats.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bench.config import config_path, load_yaml
from bench.errors import ConfigError
from bench.reports.runs import NA_PREFIX, runs_frame

TABLES = ("table1", "generality", "ablation", "nviews")
_ROW_TAGS = {"method", "dataset", "train_dataset", "task", "variant", "num_refs"}
#: column prefix of the decimals printed for a metric (``digits.l1``, ``digits.l1_best``)
DIGITS_PREFIX = "digits."


class PrintedFloat(float):
    """A float read from YAML that remembers how many decimals its source text printed."""

    def __new__(cls, value: float, decimals: int | None) -> "PrintedFloat":
        out = super().__new__(cls, value)
        out.decimals = decimals
        return out


def printed_decimals(text: str) -> int | None:
    """Decimals a YAML float scalar prints: ``0.070`` -> 3, ``6.1e-3`` -> 4; None for ``.inf``/``.nan``."""
    mantissa, _, exponent = text.replace("_", "").lower().lstrip("+-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    if not (whole + fraction).isdigit():
        return None
    return max(0, len(fraction) - int(exponent or 0))


class _PrintedLoader(yaml.SafeLoader):
    """The safe loader, with floats as :class:`PrintedFloat`."""

    def construct_printed_float(self, node: yaml.ScalarNode) -> PrintedFloat:
        return PrintedFloat(self.construct_yaml_float(node), printed_decimals(node.value))


_PrintedLoader.add_constructor("tag:yaml.org,2002:float", _PrintedLoader.construct_printed_float)


def _load_printed(path: str | Path) -> dict[str, Any]:
    """:func:`bench.config.load_yaml` whose floats keep their printed decimals."""
    return load_yaml(path, _PrintedLoader)


def published_path(table: str) -> Path:
    return config_path("published", f"{table}.yaml")


def _row_record(table: str, defaults: dict[str, Any], row: dict[str, Any], where: str) -> dict[str, Any]:
    merged = {**defaults, **row}
    na = merged.pop("na", None) or {}
    record: dict[str, Any] = {"table": table, "origin": "reported", "kind": "eval", "status": "complete",
                              "run_id": f"reported:{table}:{where}"}
    for key, value in merged.items():
        if key in _ROW_TAGS:
            record[key] = value
        elif value is None:
            if key not in na:
                raise ConfigError(f"{where}: '{key}' is null without a reason under 'na'")
            record[key] = float("nan")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            record[key] = float(value)
            record[DIGITS_PREFIX + key] = getattr(value, "decimals", None) if isinstance(value, float) else 0
        else:
            raise ConfigError(f"{where}: '{key}' must be a number or null, got {value!r}")
    for metric, reason in na.items():
        record[NA_PREFIX + metric] = str(reason)
    missing = [t for t in ("method", "dataset", "task") if not record.get(t)]
    if missing:
        raise ConfigError(f"{where}: missing '{missing[0]}'")
    record.setdefault("train_dataset", record["dataset"])
    return record


def load_table(path: str | Path) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """One published table: its rows as a frame, its row labels and its notes (footnotes on printed values)."""
    data = _load_printed(path)
    table = data.get("table") or Path(path).stem
    defaults = data.get("defaults") or {}
    rows = data.get("rows")
    if not isinstance(rows, list) or not rows:
        raise ConfigError(f"{path}: 'rows' must be a non-empty list")
    records = [_row_record(table, defaults, row, f"{path} row {i + 1}") for i, row in enumerate(rows)]
    frame = runs_frame(records)
    for column in [c for c in frame.columns if c.startswith(DIGITS_PREFIX)]:
        # ints or None in an object column: not a numeric (metric) column for bench.reports.runs.metric_names
        frame[column] = pd.Series([None if pd.isna(d) else int(d) for d in frame[column]], index=frame.index,
                                  dtype=object)
    notes = data.get("notes") or []
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise ConfigError(f"{path}: 'notes' must be a list of sentences")
    return frame, {str(k): str(v) for k, v in (data.get("labels") or {}).items()}, list(notes)


@lru_cache(maxsize=None)
def _cached(table: str) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    return load_table(published_path(table))


def load_published(table: str) -> pd.DataFrame:
    """Rows of a shipped published table (``table1``, ``generality``, ``ablation``, ``nviews``)."""
    if table not in TABLES:
        raise ConfigError(f"no published table '{table}'; choose from: {', '.join(TABLES)}")
    return _cached(table)[0].copy()


def published_labels(table: str) -> dict[str, str]:
    """The paper's row labels of ``table`` (method or variant name -> label)."""
    return dict(_cached(table)[1])


def published_notes(table: str) -> list[str]:
    """The notes on printed values of ``table`` (shown as footnotes wherever its published rows are)."""
    return list(_cached(table)[2]) if table in TABLES else []
