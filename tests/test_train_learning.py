"""The honest learning check (slow): the synthetic presets beat copy-source on reconstruction L1.

Trains the tiny FOMM, MRAA, TPSMM, LIA and SADM presets with ``configs/train/<method>/synthetic.yaml`` exactly as
``bench train --method M --dataset synthetic`` does, then evaluates reconstruction L1 on the
synthetic test split with the evaluation runner.
"""
from __future__ import annotations

import pytest

from bench.training import TrainRequest, run_training
from tests.run_support import learning_check


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fomm", "mraa", "tpsmm", "lia", "sadm"])
def test_synthetic_preset_beats_copy_source(method, tmp_path):
    result = run_training(TrainRequest(method=method, dataset="synthetic", out=tmp_path / method, device="cpu"))
    check = learning_check(method, result.checkpoint, dataset="synthetic", device="cpu", out=tmp_path / "eval")
    print(f"{method}: L1 {check.l1:.4f} vs copy-source {check.copy_source_l1:.4f} "
          f"(ratio {check.ratio:.2f}), trained {result.step} steps in {result.wall_s:.0f}s")
    assert check.passed(margin=0.9), f"{method} L1 {check.l1:.4f} not clearly below copy-source {check.copy_source_l1:.4f}"
