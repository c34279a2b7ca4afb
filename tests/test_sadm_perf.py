"""`bench perf methods` plumbing: one in-process measurement of each kind (no timing asserted)."""
from __future__ import annotations

import subprocess
import sys

from bench.methods.benchmark import MiB, measure
from tests.test_sadm_model import TINY


def _spec(kind: str, **extra) -> dict:
    return {"method": "sadm", "kind": kind, "params": dict(TINY, num_refs=1), "device": "cpu", "size": 32,
            "batch": 2, "frames": 2, **extra}


def test_inference_measurement_reports_frames_memory_and_nfe():
    m = measure(_spec("inference"))
    assert m.kind == "inference" and len(m.seconds) == 2 and all(s > 0 for s in m.seconds)
    assert m.params > 0 and m.weights_mib == m.params * 4 / 2 ** 20
    assert m.nfe == 8


def test_training_measurement_runs_one_adjoint_step():
    m = measure(_spec("train"))
    assert m.kind == "train" and len(m.seconds) == 1 and m.nfe == 8


def test_cpu_peak_memory_tracker_sees_a_known_allocation():
    # in a fresh process: here, memory freed by earlier tests may still be resident and be reused
    script = ("import torch; from bench.methods.benchmark import MiB, _PeakMemory\n"
              "tracker = _PeakMemory(torch.device('cpu'))\n"
              "with tracker.track():\n"
              "    block = torch.ones(64 * MiB // 4)  # 64 MiB, touched, alive when the section ends\n"
              "print(tracker.peak)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 60 * MiB <= int(done.stdout.split()[-1]) < 200 * MiB
