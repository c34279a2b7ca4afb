"""``torchrun --nproc_per_node 2 -m bench run`` (CPU, gloo) gives the single-process numbers."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from bench import tracking
from bench.cli import main
from tests.run_support import numbers

REPO = Path(__file__).resolve().parents[1]


def _torchrun(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    return subprocess.run([*launcher, "-m", "bench", "run", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_two_process_gloo_run_equals_single_process(tmp_path):
    common = ["--method", "copy-source", "--dataset", "synthetic", "--task", "reconstruction", "--max-videos", "5",
              "--refs", "2", "--metrics", "l1,psnr,ssim", "--device", "cpu"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the torchrun processes (OMP_NUM_THREADS=1): same float reductions
    try:
        assert main(["run", *common, "--no-track", "--out", str(tmp_path / "single")]) == 0
    finally:
        torch.set_num_threads(threads)
    dist = _torchrun([*common, "--variant", "two-procs", "--out", str(tmp_path / "dist")])
    assert dist.returncode == 0, dist.stderr[-2000:]
    assert numbers(tmp_path / "dist") == numbers(tmp_path / "single")
    assert (tmp_path / "dist" / "per_video.csv").read_text() == (tmp_path / "single" / "per_video.csv").read_text()
    # both ranks computed a share (5 videos: 3 + 2), and only rank 0 logged one MLflow run
    assert len(list((tmp_path / "dist" / "state").glob("*.pt"))) == 5
    runs = tracking.find_runs({"variant": "two-procs"})
    assert len(runs) == 1 and runs[0].data.params["world_size"] == "2"
    assert dist.stdout.count("reconstruction: 5 item(s), 3 computed now") == 1
