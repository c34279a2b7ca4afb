"""`bench train --resume` is bit-exact for every method: N epochs in one process equal N/2 + N/2 with the
resume in a fresh process, and equal a run SIGKILLed mid-epoch then resumed. Every tensor of the last
checkpoint (weights, optimiser and scheduler states, RNG states) is compared."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bench.checkpoints import load_checkpoint
from tests.conftest import REPO

#: the synthetic presets, cut to 3 steps of 2 pairs per epoch (6 identities, 1 repeat)
SMALL = ["--set", "train.num_repeats=1", "--set", "train.batch_size=2", "--set", "train.sample_every=1000"]


def _train(method: str, out: Path, *extra: str, wait: bool = True) -> subprocess.Popen | None:
    cmd = [sys.executable, "-m", "bench", "train", "--method", method, "--dataset", "synthetic", "--device", "cpu",
           "--out", str(out), *SMALL, *extra]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    if not wait:
        return proc
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-2000:]
    return None


def _tensors(value, prefix: str = ""):
    """Every tensor (and number) in a nested checkpoint structure, by path."""
    if isinstance(value, torch.Tensor):
        yield prefix, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{prefix}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _tensors(item, f"{prefix}[{i}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield prefix, torch.tensor(value)


def _assert_identical(a: Path, b: Path) -> None:
    left, right = load_checkpoint(a), load_checkpoint(b)
    fields = ("model", "optimizer", "scheduler", "rng", "epoch", "step", "batch_in_epoch")
    compared = 0
    for name in fields:
        ta, tb = dict(_tensors(left.get(name), name)), dict(_tensors(right.get(name), name))
        assert ta.keys() == tb.keys(), name
        for key in ta:
            assert torch.equal(ta[key], tb[key]), f"{key} differs"
            compared += 1
    assert compared > 50


@pytest.mark.parametrize("method", ["fomm", "mraa", "sadm"])
def test_resume_in_a_fresh_process_and_after_sigkill_is_bit_exact(method, tmp_path):
    _train(method, tmp_path / "straight", "--epochs", "2")
    _train(method, tmp_path / "split", "--epochs", "1")
    _train(method, tmp_path / "split", "--resume", str(tmp_path / "split"), "--epochs", "2")  # a fresh process
    last = Path("checkpoints") / "last.pt"
    _assert_identical(tmp_path / "straight" / last, tmp_path / "split" / last)

    killed = tmp_path / "killed"
    proc = _train(method, killed, "--epochs", "2", wait=False)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            if (killed / last).is_file() and load_checkpoint(killed / last).get("epoch") == 1:
                break  # epoch 1 is saved: epoch 2 is under way
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert load_checkpoint(killed / last)["epoch"] == 1, "the run was not killed during its second epoch"
    _train(method, killed, "--resume", str(killed), "--epochs", "2")
    _assert_identical(tmp_path / "straight" / last, killed / last)
