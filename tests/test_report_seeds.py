"""Tables of checkpoints trained with several seeds: a row is one seed's runs, never a mix, and each value
carries the spread over the seeds (the standard deviation of the seeds' newest runs)."""
from __future__ import annotations

import statistics

import pandas as pd
import pytest

from bench.reports.render import to_frame, to_latex, to_markdown
from bench.reports.runs import runs_frame
from bench.reports.tables import build_table

BASE = {"origin": "measured", "kind": "eval", "dataset": "synthetic", "train_dataset": "synthetic", "variant": "default",
        "num_refs": 3, "seed": 0, "convention": "fomm", "status": "complete", "precision": "fp32", "items": "i",
        "backends": "none", "weights": "checkpoint"}


def _runs(values: dict[tuple[str, int | None, str], float]) -> pd.DataFrame:
    records = []
    for n, ((method, seed, task), l1) in enumerate(values.items()):
        records.append({**BASE, "run_id": f"run{n:02d}", "start_time": pd.Timestamp(1_700_000_000 + n, unit="s"),
                        "method": method, "task": task, "train_seed": seed, "invocation": f"call{n}",
                        "l1" if task == "reconstruction" else "fid": l1})
    return runs_frame(records)


def test_a_row_is_one_training_seed_and_cells_carry_the_spread_over_seeds():
    values = {("fomm", 2, "reconstruction"): 0.30, ("fomm", 0, "reconstruction"): 0.10,
              ("fomm", 1, "reconstruction"): 0.20, ("fomm", 1, "animation"): 40.0, ("fomm", 2, "animation"): 50.0,
              ("copy-source", None, "reconstruction"): 0.05}
    table = build_table("table1", _runs(values), fetch=None)
    rows = {row.label: row for group in table.groups for row in group.rows}
    fomm = rows["FOMM"]
    # seed 1 is the smallest seed both tasks have: the row is seed 1's runs (not seed 0's reconstruction)
    assert {task: run["train_seed"] for task, run in fomm.runs.items()} == {"reconstruction": 1, "animation": 1}
    recon, anim = fomm.cells["reconstruction", "l1"], fomm.cells["animation", "fid"]
    assert recon.value == 0.20 and anim.value == 40.0
    assert recon.seeds == 3 and recon.seed_sd == pytest.approx(statistics.stdev([0.10, 0.20, 0.30]), rel=1e-12)
    assert anim.seeds == 2 and anim.seed_sd == pytest.approx(statistics.stdev([40.0, 50.0]), rel=1e-12)
    assert rows["Copy source"].cells["reconstruction", "l1"].seed_sd is None  # no training seeds: no spread
    markdown = to_markdown(table)
    assert "0.200 ±0.100" in markdown and "over 2 or 3 training seeds" in markdown
    assert r"0.200 $\pm$0.100" in to_latex(table)
    frame = to_frame(table).set_index("label")
    assert frame.loc["FOMM", "reconstruction.l1_seeds"] == 3


def test_the_newest_run_of_each_seed_counts():
    values = {("fomm", 0, "reconstruction"): 0.90, ("fomm", 1, "reconstruction"): 0.20}
    runs = _runs(values)
    newer = runs.iloc[[0]].assign(run_id="again", l1=0.10, start_time=pd.Timestamp(1_800_000_000, unit="s"))
    table = build_table("table1", pd.concat([runs, newer], ignore_index=True), fetch=None)
    cell = table.groups[0].rows[0].cells["reconstruction", "l1"]
    assert cell.value == 0.10 and cell.seed_sd == pytest.approx(statistics.stdev([0.10, 0.20]), rel=1e-12)
