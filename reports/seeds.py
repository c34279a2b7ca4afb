"""Rows of checkpoints trained with several seeds (``bench sweep`` with ``train: {seeds: [...]}``; the
evaluation runs carry ``mb.train_seed``): one seed's runs fill a row, never a mix, and each cell
knows the spread of its value over the seeds.

A row shows the runs of the smallest training seed that all its tasks have (else, per cell, the
smallest it has); beside each value the table prints the standard deviation over the training
seeds (``<metric>_seed_sd``, from the newest run of each seed; ``train_seeds`` counts them).
"""
from __future__ import annotations

import pandas as pd

from bench.reports.runs import metric_names

SEED = "train_seed"
COUNT = "train_seeds"
SUFFIX = "_seed_sd"


def _seeded(frame: pd.DataFrame) -> bool:
    return SEED in frame and frame[SEED].notna().any()


def _key(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    return frame[columns].astype("string").fillna("<none>").agg("|".join, axis=1)


def one_seed_per_row(frame: pd.DataFrame, rows: list[str], cells: list[str]) -> pd.DataFrame:
    """``frame`` cut to one training seed per row (``rows``: the row's key columns; ``cells``: a cell's)."""
    if not _seeded(frame):
        return frame
    seeds, row, cell = frame[SEED].fillna(-1), _key(frame, rows), _key(frame, cells)
    available = seeds.groupby(cell).apply(set)  # cell -> its seeds
    row_of = row.groupby(cell).first()
    shared = {r: set.intersection(*(available[c] for c in row_of.index[row_of == r])) for r in set(row_of)}
    chosen = {c: min(shared[row_of[c]] or available[c]) for c in available.index}
    return frame[[chosen[c] == s for c, s in zip(cell, seeds)]]


def spread(frame: pd.DataFrame, cells: list[str]) -> pd.DataFrame:
    """Per cell: ``<metric>_seed_sd`` (the standard deviation over its training seeds, from each seed's newest
    run; none with a single seed) and ``train_seeds``."""
    if not _seeded(frame):
        return pd.DataFrame(columns=cells)
    order = frame.sort_values("start_time", ascending=False, kind="stable") if "start_time" in frame else frame
    newest = order[order[SEED].notna()].drop_duplicates(subset=cells + [SEED], keep="first")
    metrics = [m for m in metric_names(newest) if not m.startswith("_")]
    grouped = newest.groupby(cells, dropna=False)
    out = grouped[metrics].std(ddof=1).add_suffix(SUFFIX)
    out[COUNT] = grouped[SEED].nunique()
    return out.reset_index()


def with_spread(chosen: pd.DataFrame, frame: pd.DataFrame, cells: list[str]) -> pd.DataFrame:
    """The chosen runs with the spread over training seeds of their cells (when runs carry seeds)."""
    table = spread(frame, cells)
    if table.empty:
        return chosen
    return chosen.merge(table, on=cells, how="left")
