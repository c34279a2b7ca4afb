"""``bench perf <what>``: speed benchmarks that print tables (timings never gate tests).

Each sub-verb is one entry of :data:`SUBVERBS`; add a benchmark by adding an entry.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

from bench.commands._common import add_verb


@dataclass(frozen=True)
class PerfVerb:
    help: str
    examples: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _metrics_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics", default="l1,psnr,ssim,ms_ssim,lpips,fid,akd,csim",
                        help="comma-separated metrics to time")
    parser.add_argument("--frames", type=int, default=32, help="number of 256x256 frames (default 32)")
    parser.add_argument("--video", metavar="PATH", help="time on the frames of this video (any FOMM format) instead "
                        "of smooth random frames; detectors need real faces/people to do their full work")
    parser.add_argument("--domain", default="face", help="domain for AKD/CSIM backends (default face)")
    parser.add_argument("--weights-dir", metavar="DIR", help="folder searched first for weight files")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--repeats", type=int, default=1, help="timed repeats after a warm-up (best is kept)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice); 1 is often "
                        "faster on a machine shared with other jobs")


def _metrics_run(args: argparse.Namespace) -> int:
    import torch

    from bench.errors import UserError
    from bench.metrics import METRICS
    from bench.metrics.benchmark import metric_throughput, smooth_frames, ssim_vs_skimage
    from bench.metrics.evaluation import parse_metric_names
    from bench.utils import pick_device

    if args.frames < 2:
        raise UserError("--frames must be at least 2")
    names = parse_metric_names(args.metrics, METRICS.names())
    device = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.video:
        from bench.datasets.video_io import read_video, to_tensor

        real = to_tensor(read_video(args.video, size=256))[: args.frames]
    else:
        real = smooth_frames(args.frames)
    generated = (real + 0.05 * torch.randn(real.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    print(f"device {device}, {len(real)} frames of 256x256, torch threads {torch.get_num_threads()}")
    print(f"{'metric':8s}  {'frames/s':>9s}  note")
    for timing in metric_throughput(names, generated, real, args.domain, device, args.weights_dir, args.repeats):
        fps = f"{timing.frames_per_s:9.1f}" if timing.frames_per_s else f"{'-':>9s}"
        print(f"{timing.name:8s}  {fps}  {timing.note}")
    print(f"\n{'metric':8s}  {'batched torch s':>15s}  {'skimage loop s':>14s}  {'speed-up':>8s}")
    for name, torch_s, sk_s in ssim_vs_skimage(generated, real, device, args.repeats):
        print(f"{name:8s}  {torch_s:15.4f}  {sk_s:14.4f}  {sk_s / torch_s:7.1f}x")
    return 0


SUBVERBS: dict[str, PerfVerb] = {
    "metrics": PerfVerb(
        "frames/s of each metric at 256x256, and batched SSIM/MS-SSIM vs a per-frame scikit-image loop",
        "  bench perf metrics\n  bench perf metrics --metrics ssim,ms_ssim --frames 64 --device cuda\n"
        "  bench perf metrics --video data/vox/test/id#0#99.mp4 --metrics akd,csim\n",
        _metrics_arguments, _metrics_run),
}


def _runner_verb(module: str, help: str, examples: str) -> PerfVerb:
    """A sub-verb whose ``add_arguments`` and ``run`` live in ``bench.runner.<module>`` (imported when used: it
    imports torch)."""
    import importlib

    def runner():
        return importlib.import_module(f"bench.runner.{module}")
    return PerfVerb(help, examples, lambda parser: runner().add_arguments(parser), lambda args: runner().run(args))


SUBVERBS["eval"] = _runner_verb(
    "perf",
    "end-to-end evaluation frames/s, the share of time outside method and metric compute, and the ratio to "
    "the method's forward-only frames/s",
    "  bench perf eval\n  bench perf eval --method sadm --config configs/methods/sadm/synthetic.yaml --max-videos 4\n"
    "  bench perf eval --method fomm --config configs/methods/fomm/vox.yaml --size 256 --videos 80 --max-videos 80 "
    "--metrics l1,psnr,ssim,ms_ssim --device cuda   # over 2,000 frames at 256 px\n")
SUBVERBS["floor"] = _runner_verb(
    "floor",
    "a run's wall time against this machine's floor for it: the run's counted multiply-accumulates at the "
    "convolution / GEMM throughput torch reaches here (same threads, same precision), plus the start-up",
    "  bench perf floor --method fomm --config configs/methods/fomm/vox.yaml --size 256 --videos 4 --max-videos 4 "
    "--metrics l1\n"
    "  bench perf floor --method fomm --dataset vox --root data/vox --official --checkpoint vox-cpk.pth.tar "
    "--config vox-256.yaml --metrics l1 --threads 2\n"
    "  bench perf floor --method sadm --config configs/methods/sadm/synthetic.yaml --precision bf16\n")
SUBVERBS["profile"] = _runner_verb(
    "profiling",
    "torch.profiler over a short evaluation (SADM by default): the time of the method's parts (SADM: the ODE "
    "solver's steps, the evolution network, ...), the metric updates and the rest, and the top operators",
    "  bench perf profile --config configs/methods/sadm/synthetic.yaml\n"
    "  bench perf profile --method fomm --config configs/methods/fomm/synthetic.yaml --max-videos 4 --top 20\n")


def _methods_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``bench perf methods`` (the benchmark itself, :mod:`bench.methods.benchmark`, imports torch)."""
    parser.add_argument("--methods", default="fomm,mraa,tpsmm,lia,liveportrait,sadm",
                        help="methods to time (default fomm,mraa,tpsmm,lia,liveportrait,sadm)")
    parser.add_argument("--preset", default="vox", help="dataset preset of each method (default vox)")
    parser.add_argument("--size", type=int, default=256, help="frame size (default 256)")
    parser.add_argument("--frames", type=int, default=5, help="timed frames per method after a warm-up (default 5)")
    parser.add_argument("--batch", type=int, default=1, help="frames per forward pass (default 1)")
    parser.add_argument("--train-steps", default="4,16",
                        help="SADM rk4 step counts at which one training step is measured with the adjoint and "
                             "with plain backpropagation (default 4,16; empty to skip)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per measurement")


def _methods_run(args: argparse.Namespace) -> int:
    from bench.methods.benchmark import run

    return run(args)


SUBVERBS["methods"] = PerfVerb(
    "per-frame inference time and peak memory of each method (FOMM, MRAA, TPSMM, LivePortrait, SADM by default), "
    "and SADM's training-step memory with the "
    "adjoint against plain backpropagation",
    "  bench perf methods\n  bench perf methods --methods sadm --frames 3 --train-steps 4,16,32 --device cuda\n",
    _methods_arguments, _methods_run)


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_verb(sub, "perf", "speed benchmarks (tables of throughput and speed-up ratios)",
                      examples="".join(verb.examples.splitlines(keepends=True)[0] for verb in SUBVERBS.values()))
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    verbs = parser.add_subparsers(dest="perf_verb", metavar="<what>", parser_class=type(parser))
    for name, verb in SUBVERBS.items():
        child = add_verb(verbs, name, verb.help, examples=verb.examples)
        verb.add_arguments(child)
        child.set_defaults(func=verb.run)
