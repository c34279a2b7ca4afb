"""``bench perf eval``: end-to-end evaluation throughput and the time spent outside compute.

Runs ``bench run`` (no tracking, a temporary output folder) and splits the evaluation loop's
wall time into the method's forward passes, the metric updates and the rest (decoding not
hidden by the prefetch thread, transfers, saving per-video results).
"""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", default="copy-source", help="method to run (default copy-source)")
    parser.add_argument("--dataset", default="synthetic", help="dataset (default synthetic, generated)")
    parser.add_argument("--root", help="dataset root")
    parser.add_argument("--checkpoint", help="weights of the method")
    parser.add_argument("--config", help="method YAML")
    parser.add_argument("--task", default="reconstruction", choices=("reconstruction", "animation"))
    parser.add_argument("--metrics", default="l1,psnr,ssim", help="metrics to compute (default l1,psnr,ssim)")
    parser.add_argument("--max-videos", type=int, default=8, help="videos / pairs to evaluate (default 8)")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per forward pass")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when available)")


def run(args: argparse.Namespace) -> int:
    import tempfile
    import time

    from bench.runner import RunSettings
    from bench.runner import run as run_eval

    with tempfile.TemporaryDirectory(prefix="bench-perf-eval-") as out:
        settings = RunSettings(method=args.method, dataset=args.dataset, root=args.root, checkpoint=args.checkpoint,
                               config=args.config, task=args.task, metrics=[m for m in args.metrics.split(",") if m],
                               max_videos=args.max_videos, batch_size=args.batch_size, device=args.device,
                               best_of_refs=False, out=out, track=False)
        start = time.perf_counter()
        (report,) = run_eval(settings)
        total = time.perf_counter() - start
    timer, wall = report.timer, report.wall
    outside = max(0.0, wall - timer.method - timer.metrics)
    print(f"{args.method} on {args.dataset} ({args.task}): {report.computed} item(s), {timer.frames} frames, "
          f"batch {args.batch_size}, metrics {args.metrics}")
    print(f"{'part':26s} {'seconds':>9s} {'share':>7s}")
    for name, seconds in (("method forward", timer.method), ("metric updates", timer.metrics),
                          ("outside method and metrics", outside)):
        print(f"{name:26s} {seconds:9.3f} {seconds / wall:7.1%}")
    print(f"{'evaluation loop':26s} {wall:9.3f}")
    print(f"end to end: {timer.frames / wall:.1f} frames/s in the loop, {timer.frames / total:.1f} frames/s "
          f"including setup ({total - wall:.1f} s: model, metrics, dataset listing)")
    return 0
