"""``bench perf profile``: the labelled ranges and the per-part arithmetic (no timing asserted)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.cli import main
from bench.runner.profiling import FORWARD, METRIC, PART, labelled_ranges, part_rows


class _Nested(nn.Module):
    """A method-like module: ``generate`` runs ``solve`` (which calls ``net``) and ``blocks`` (a ModuleList)."""

    def __init__(self) -> None:
        super().__init__()
        self.solve = nn.Sequential(nn.Conv2d(3, 3, 1))
        self.blocks = nn.ModuleList([nn.Conv2d(3, 3, 1), nn.Conv2d(3, 3, 1)])

    def generate(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.solve(x)

    def animate(self, x: torch.Tensor) -> torch.Tensor:
        return self.generate(x)


class _Metric:
    def update(self, generated: torch.Tensor) -> None:
        pass


def test_ranges_label_forward_modules_and_metric_updates_and_are_removed():
    method, metric = _Nested(), _Metric()
    with labelled_ranges(method, {"l1": metric}) as modules, \
            torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        metric.update(method.generate(torch.rand(1, 3, 4, 4)))
    keys = {e.key: e.count for e in prof.key_averages()}
    assert modules == ["solve", "solve.0", "blocks", "blocks.0", "blocks.1"]
    assert keys[FORWARD] == 1 and keys[f"{METRIC} l1"] == 1
    assert keys[PART + "solve"] == keys[PART + "solve.0"] == keys[PART + "blocks.0"] == 1
    assert PART + "blocks" not in keys  # a ModuleList's forward is never called
    assert "generate" not in vars(method) and "update" not in vars(metric)
    assert not method.solve._forward_pre_hooks and not method.solve._forward_hooks


def test_part_rows_sum_containers_and_split_a_module_outside_its_sub_modules():
    modules = ["solve", "solve.0", "blocks", "blocks.0", "blocks.1"]
    totals = {FORWARD: 10.0, PART + "solve": 6.0, PART + "solve.0": 4.5, PART + "blocks.0": 1.0,
              PART + "blocks.1": 2.0, f"{METRIC} l1": 0.5, f"{METRIC} ssim": 1.5}
    rows = dict(part_rows(totals, modules))
    assert rows[FORWARD] == 10.0 and rows["  solve"] == 6.0 and rows["    solve.0"] == 4.5
    assert rows["    (outside its sub-modules)"] == pytest.approx(1.5)  # solve's own code (SADM: the solver)
    assert rows["  blocks (its sub-modules)"] == 3.0
    assert rows["metric updates"] == 2.0 and rows["  ssim"] == 1.5


def test_profile_verb_runs_a_short_evaluation(capsys):
    assert main(["perf", "profile", "--method", "copy-source", "--max-videos", "1", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "metric updates" in out and "operator (self time)" in out
