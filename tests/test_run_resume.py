"""Resumable runs: a run killed half-way and started again ends with the uninterrupted numbers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.errors import UserError
from bench.runner.evaluate import ItemEvaluator
from bench.runner.store import ResultStore, decode, encode, file_name
from tests.run_support import numbers, run_quick


class _Killed(RuntimeError):
    pass


def test_killed_run_resumes_to_identical_numbers(tmp_path, monkeypatch):
    options = dict(max_videos=5, refs=2)
    run_quick(tmp_path / "whole", **options)

    real_evaluate = ItemEvaluator.evaluate
    calls = {"n": 0}

    def dies_after_two(self, *args, **kwargs):
        if calls["n"] == 2:
            raise _Killed("simulated kill")
        calls["n"] += 1
        return real_evaluate(self, *args, **kwargs)

    monkeypatch.setattr(ItemEvaluator, "evaluate", dies_after_two)
    with pytest.raises(_Killed):
        run_quick(tmp_path / "resumed", **options)
    assert len(list((tmp_path / "resumed" / "state").glob("*.pt"))) == 2
    assert not (tmp_path / "resumed" / "summary.json").exists()

    monkeypatch.setattr(ItemEvaluator, "evaluate", real_evaluate)
    (report,) = run_quick(tmp_path / "resumed", **options)
    assert report.computed == 3 and report.items == 5
    assert numbers(tmp_path / "resumed") == numbers(tmp_path / "whole")
    assert (tmp_path / "resumed" / "per_video.csv").read_text() == (tmp_path / "whole" / "per_video.csv").read_text()

    (again,) = run_quick(tmp_path / "resumed", **options)  # everything saved: nothing recomputed
    assert again.computed == 0


def test_state_of_another_configuration_is_refused(tmp_path):
    run_quick(tmp_path, max_videos=1, refs=1)
    with pytest.raises(UserError, match="another run configuration"):
        run_quick(tmp_path, max_videos=1, refs=2)


def test_records_round_trip_through_weights_only_files(tmp_path):
    record = {"states": {"fid": {"generated": {"v": np.arange(6, dtype=np.float32).reshape(2, 3)}}},
              "score": np.float64(0.25), "refs": [1, 2], "nonfinite": None}
    store = ResultStore(tmp_path, key="k")
    store.save("a/b#1->c", record)
    back = store.load("a/b#1->c")
    assert np.array_equal(back["states"]["fid"]["generated"]["v"], record["states"]["fid"]["generated"]["v"])
    assert back["score"] == 0.25 and back["refs"] == [1, 2] and back["nonfinite"] is None
    assert isinstance(encode(record)["states"]["fid"]["generated"]["v"]["__ndarray__"], torch.Tensor)
    assert decode(encode({"x": [np.ones(2)]}))["x"][0].tolist() == [1.0, 1.0]
    assert file_name("a/b") != file_name("a_b") and "/" not in file_name("a/b")
