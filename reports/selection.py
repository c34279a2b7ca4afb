"""Which measured run fills each cell of a table: runs of one protocol per group, the newest per cell.

Rows of a group are compared with each other, so their numbers must come from the same protocol:
the same test items (``mb.items``: the videos, or the source->driving pairs), seed, N, averaging
convention, precision and metric backends (:data:`~bench.reports.runs.PROTOCOL_TAGS`), except
for what the table varies across rows (N in the N-view table). Per group and task the protocol
covering the most rows is used (ties: the most videos, then the newest run); runs of other
protocols are left out and counted, and within the protocol the newest run fills each cell (of one training
seed per row when the runs evaluate checkpoints of several, :mod:`bench.reports.seeds`).
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bench.reports.runs import PROTOCOL_TAGS
from bench.reports.seeds import one_seed_per_row, with_spread

#: columns that exist only to rank protocols and runs (dropped again)
_RANK = ("_rows", "_videos", "_newest", "_protocol")


@dataclass
class Selection:
    """The chosen runs (one per group, row and task) and how many qualifying runs another protocol left out."""

    runs: pd.DataFrame
    left_out: int


def _protocol_key(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One text per run naming its protocol (missing tags count as their own value)."""
    present = [c for c in columns if c in frame.columns]
    if not present:
        return pd.Series("", index=frame.index)
    return frame[present].astype("string").fillna("<none>").agg("|".join, axis=1)


def _start(frame: pd.DataFrame) -> pd.Series:
    return frame["start_time"] if "start_time" in frame else pd.Series(pd.NaT, index=frame.index)


def select_runs(frame: pd.DataFrame, group_keys: tuple[str, ...], row_keys: tuple[str, ...]) -> Selection:
    """The run behind each (group, row, task) cell: one protocol per (group, task), then the newest run."""
    if frame.empty:
        return Selection(frame, 0)
    cells = list(group_keys + row_keys) + ["task"]
    varying = [t for t in PROTOCOL_TAGS if t not in cells]
    frame = frame.assign(_protocol=_protocol_key(frame, varying), _newest=_start(frame),
                         _videos=pd.to_numeric(frame.get("videos"), errors="coerce") if "videos" in frame else 0)
    grouped = frame.groupby(list(group_keys) + ["task", "_protocol"], dropna=False)[list(row_keys)]
    rows_per_protocol = grouped.apply(lambda part: len(part.drop_duplicates()))
    frame = frame.join(rows_per_protocol.rename("_rows"), on=list(group_keys) + ["task", "_protocol"])
    ranked = frame.sort_values(["_rows", "_videos", "_newest"], ascending=False, kind="stable", na_position="last")
    chosen = ranked.drop_duplicates(subset=list(group_keys) + ["task"], keep="first")[
        list(group_keys) + ["task", "_protocol"]]
    kept = frame.merge(chosen, on=list(group_keys) + ["task", "_protocol"])
    seeded = one_seed_per_row(kept, list(group_keys + row_keys), cells)  # training seeds: never mixed in a row
    newest = seeded.sort_values("_newest", ascending=False, kind="stable", na_position="last")
    newest = with_spread(newest.drop_duplicates(subset=cells, keep="first"), kept, cells)
    left_out = len(frame) - len(kept)
    return Selection(newest.drop(columns=[c for c in _RANK if c in newest]).reset_index(drop=True), left_out)
