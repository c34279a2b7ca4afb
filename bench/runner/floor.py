"""``bench perf floor``: a run's wall time against this machine's floor for it, with the same backend.

The floor of a run is the time its multiply-accumulates (MACs) would take at the throughput that torch
(oneDNN on the CPU) reaches on this machine, at the run's thread count and precision, plus the process
start-up:

    floor = convolution MACs / convolution peak + matrix-product MACs / GEMM peak + start-up

- MACs are counted by :func:`count_macs` (``torch.utils.flop_counter.FlopCounterMode``, exact for
  convolutions, transposed convolutions and matrix products; element-wise work, sampling and
  normalisation are not counted, which is what makes this a floor) over a second, identical evaluation
  of the same items: the method's forwards and the metrics' networks (LPIPS, Inception, ...).
- the peaks (:func:`measure_peak`) are the best of a few timed repeats of a 3x3 convolution
  (64 -> 64 channels on 4 x 64 x 64, channels-last as the CPU runs the models) and a 512^3 GEMM;
- start-up (:func:`startup_seconds`) is a fresh interpreter importing what ``bench run`` imports.

The run's wall time is the measured start-up plus the planning and evaluation in this process, so the
ratio wall / floor says how far the run is from what the hardware allows.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

#: what a ``bench run`` process imports before it computes (timed in a fresh interpreter)
STARTUP_IMPORTS = "import bench.cli, bench.runner, bench.methods, bench.metrics"
#: the peak kernels' shapes: 3x3 convolution (N, C_in, C_out, H, W) and GEMM (M, K, N)
CONV_SHAPE, GEMM_SHAPE = (4, 64, 64, 64, 64), (512, 512, 512)


@dataclass(frozen=True)
class MacCount:
    """Multiply-accumulates of a computation, split by the peak that bounds them."""

    conv: int = 0    # convolutions and transposed convolutions (aten.convolution)
    matmul: int = 0  # matrix products (mm, addmm, bmm, baddbmm, attention, ...)

    @property
    def total(self) -> int:
        return self.conv + self.matmul


@dataclass(frozen=True)
class Peak:
    """Measured throughput (GMAC/s) of this machine's backend at ``threads`` threads in ``precision``."""

    conv_gmacs: float
    gemm_gmacs: float
    threads: int
    precision: str


def count_macs(fn: Callable[[], Any]) -> tuple[Any, MacCount]:
    """Run ``fn()`` and count its MACs (FlopCounterMode's FLOPs / 2, bias additions not included); its result
    and the count."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        result = fn()
    conv = matmul = 0
    for op, flops in counter.get_flop_counts().get("Global", {}).items():
        if "convolution" in str(op):
            conv += flops // 2
        else:
            matmul += flops // 2
    return result, MacCount(conv, matmul)


def conv_macs(n: int, c_in: int, c_out: int, k: int, h_out: int, w_out: int) -> int:
    """MACs of a ``k x k`` convolution: C_out * C_in * k * k * H_out * W_out * N (the known answer)."""
    return c_out * c_in * k * k * h_out * w_out * n


def floor_seconds(macs: MacCount, peak: Peak, startup: float) -> float:
    """The run's floor: its MACs at the measured peaks, plus the process start-up."""
    return macs.conv / (peak.conv_gmacs * 1e9) + macs.matmul / (peak.gemm_gmacs * 1e9) + startup


def _best_rate(fn: Callable[[], Any], macs: int, repeats: int) -> float:
    """GMAC/s of ``fn`` (``macs`` per call): the best of ``repeats`` timings of as many calls as fill about 0.1 s
    (at least one), after a timed warm-up call."""
    start = time.perf_counter()
    fn()
    inner = max(1, int(0.1 / max(time.perf_counter() - start, 1e-6)))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, time.perf_counter() - start)
    return macs * inner / best / 1e9


def measure_peak(precision_name: str = "fp32", repeats: int = 3) -> Peak:
    """The CPU's 3x3 convolution and GEMM throughput at the current thread count, in ``precision_name``
    (bf16: under the same autocast as the methods' forward)."""
    import torch

    from bench.precision import get_precision

    precision = get_precision(precision_name)
    gen = torch.Generator().manual_seed(0)
    n, c_in, c_out, h, w = CONV_SHAPE
    m, k, n_cols = GEMM_SHAPE
    with torch.no_grad(), precision.scope("cpu"):
        x = torch.randn(n, c_in, h, w, generator=gen).to(memory_format=torch.channels_last)
        conv = torch.nn.Conv2d(c_in, c_out, 3, padding=1).to(memory_format=torch.channels_last)
        a, b = torch.randn(m, k, generator=gen), torch.randn(k, n_cols, generator=gen)
        conv_rate = _best_rate(lambda: conv(x), conv_macs(n, c_in, c_out, 3, h, w), repeats)
        gemm_rate = _best_rate(lambda: a @ b, m * k * n_cols, repeats)
    return Peak(conv_rate, gemm_rate, torch.get_num_threads(), precision.name)


def startup_seconds(repeats: int = 3) -> float:
    """Seconds a fresh interpreter takes to import what ``bench run`` imports (the best of ``repeats``)."""
    import bench

    root = str(Path(bench.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", STARTUP_IMPORTS], check=True, env=env, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``bench perf eval``'s options, and the thread count."""
    from bench.runner.perf import add_arguments as eval_options

    eval_options(parser)
    parser.add_argument("--threads", type=int, help="torch CPU threads of the run and the peaks (default: torch's "
                        "choice)")


def _counted_run(args: argparse.Namespace, out: Path) -> tuple[Any, float, MacCount]:
    """Plan and evaluate the run once timed, then once more (another output folder) with MACs counted; the
    timed report, its seconds (planning included; generating a ``--size`` synthetic set not) and the count."""
    from bench.runner import execute, plan_run
    from bench.runner.perf import run_settings

    timed, counted = run_settings(args, out, "timed"), run_settings(args, out, "counted")  # data generated here
    start = time.perf_counter()
    (report,) = execute(plan_run(timed))
    seconds = time.perf_counter() - start
    plan = plan_run(counted)
    _, macs = count_macs(lambda: execute(plan))
    return report, seconds, macs


def run(args: argparse.Namespace) -> int:
    import tempfile

    import torch

    from bench.errors import UserError

    if (args.device or "cpu") != "cpu":
        raise UserError(f"bench perf floor measures this machine's CPU peaks: run it on --device cpu, not {args.device}")
    args.device = "cpu"
    if args.threads:
        torch.set_num_threads(args.threads)
    startup = startup_seconds()
    with tempfile.TemporaryDirectory(prefix="bench-perf-floor-") as out:
        report, seconds, macs = _counted_run(args, Path(out))
    peak = measure_peak(args.precision)
    floor = floor_seconds(macs, peak, startup)
    wall = startup + seconds
    timer = report.timer
    print(f"{args.method} on {args.dataset} ({args.task}), {timer.frames} frames, precision {args.precision}, torch "
          f"{torch.__version__}, {peak.threads} thread(s)")
    print(f"peak: 3x3 convolution {peak.conv_gmacs:.1f} GMAC/s, GEMM {peak.gemm_gmacs:.1f} GMAC/s")
    print(f"counted: convolutions {macs.conv / 1e9:.2f} GMAC, matrix products {macs.matmul / 1e9:.2f} GMAC "
          f"(method and metrics)")
    print(f"{'':34s} {'seconds':>8s}")
    for name, value in (("start-up (fresh interpreter)", startup), ("compute at the peaks", floor - startup),
                        ("floor", floor), ("run: start-up + plan + evaluation", wall),
                        ("  of which method forward", timer.method), ("  of which metric updates", timer.metrics)):
        print(f"{name:34s} {value:8.3f}")
    print(f"wall / floor {wall / floor:.2f}")
    return 0
