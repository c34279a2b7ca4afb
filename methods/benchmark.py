"""Per-frame inference time and peak memory of the methods, and SADM's adjoint memory saving.

Every measurement runs in a fresh Python process so that one measurement's freed memory
does not hide the next one's peak. Peak memory is the growth over the process's memory
right before the measured section (inference: the warm-up frame and the timed frames, with the
model and inputs already in memory; training: one step, losses and backward, with the loss
networks already built): on CUDA ``torch.cuda.max_memory_allocated``, on CPU the
resident set size sampled every millisecond by a background thread (short spikes may be
missed; the large activation buffers that dominate live for longer than that).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch

from bench.errors import UserError

MiB = 2 ** 20


@dataclass
class Measurement:
    """What one child process reports."""
    method: str
    kind: str                         # "inference" or "train"
    label: str                        # e.g. "adjoint, 4 steps"
    params: int = 0
    weights_mib: float = 0.0
    seconds: list[float] = field(default_factory=list)
    peak_mib: float = 0.0
    nfe: int | None = None


class _PeakMemory:
    """Peak memory growth (bytes) of a code section on ``device``."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak = 0

    @contextmanager
    def track(self) -> Iterator[None]:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            base = torch.cuda.memory_allocated(self.device)
            yield
            torch.cuda.synchronize(self.device)
            self.peak = max(self.peak, torch.cuda.max_memory_allocated(self.device) - base)
            return
        import psutil

        proc = psutil.Process()
        base = proc.memory_info().rss
        top = [base]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                top[0] = max(top[0], proc.memory_info().rss)
                time.sleep(0.001)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            yield
        finally:
            done.set()
            sampler.join()
            top[0] = max(top[0], proc.memory_info().rss)
            self.peak = max(self.peak, top[0] - base)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _inputs(method: Any, batch: int, size: int, device: torch.device, gen: torch.Generator) -> dict[str, torch.Tensor]:
    def frame(*lead: int) -> torch.Tensor:
        return torch.rand(*lead, 3, size, size, generator=gen).to(device)

    refs = getattr(getattr(method, "config", None), "num_refs", 0) if method.uses_refs else 0
    out = {"source": frame(batch), "driving": frame(batch)}
    if refs:
        out["refs"] = frame(batch, refs)
    return out


def measure(spec: dict[str, Any]) -> Measurement:
    """Run one measurement described by ``spec`` in this process (see :func:`run_isolated`)."""
    from bench.methods import build_method

    device = torch.device(spec["device"])
    torch.manual_seed(0)
    method = build_method(spec["method"], spec["params"]).to(device)
    gen = torch.Generator().manual_seed(1)
    inputs = _inputs(method, spec["batch"], spec["size"], device, gen)
    result = Measurement(spec["method"], spec["kind"], spec.get("label", ""), method.num_parameters(),
                         sum(p.numel() * p.element_size() for p in method.parameters()) / MiB)
    tracker = _PeakMemory(device)
    if spec["kind"] == "inference":
        method.eval()
        with torch.no_grad(), tracker.track():
            method.generate(**inputs)  # warm-up (kernel selection, allocator caches): in the peak, not timed
            for _ in range(spec["frames"]):
                _sync(device)
                start = time.perf_counter()
                method.generate(**inputs)
                _sync(device)
                result.seconds.append((time.perf_counter() - start) / spec["batch"])
    else:
        method.train()
        if hasattr(method, "perceptual_loss"):
            method.perceptual_loss().to(device)  # the frozen VGG-19 is not part of the step's peak
        with tracker.track():
            _sync(device)
            start = time.perf_counter()
            losses = method.losses(inputs)
            sum(losses.values()).backward()
            _sync(device)
            result.seconds.append(time.perf_counter() - start)
    result.peak_mib = tracker.peak / MiB
    result.nfe = getattr(method, "last_nfe", None)
    return result


def run_isolated(spec: dict[str, Any], timeout: float | None = None) -> Measurement:
    """:func:`measure` in a fresh interpreter (same ``bench`` package), parsed back from JSON."""
    import bench

    root = str(Path(bench.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    code = ("import json, sys; from dataclasses import asdict; from bench.methods.benchmark import measure; "
            "print('@@' + json.dumps(asdict(measure(json.loads(sys.argv[1])))))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(spec)], capture_output=True, text=True,
                          env=env, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("@@")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"measuring {spec['method']} ({spec['kind']}) failed: {tail[0]}")
    return Measurement(**json.loads(lines[-1][2:]))


def median_ms(m: Measurement) -> float:
    return 1000 * statistics.median(m.seconds)


__all__ = ["Measurement", "measure", "median_ms", "run_isolated"]


# ----------------------------------------------------------------------------- `bench perf methods`

def add_arguments(parser: Any) -> None:
    parser.add_argument("--methods", default="fomm,mraa,tpsmm,lia,sadm",
                        help="methods to time (default fomm,mraa,tpsmm,lia,sadm)")
    parser.add_argument("--preset", default="vox", help="dataset preset of each method (default vox)")
    parser.add_argument("--size", type=int, default=256, help="frame size (default 256)")
    parser.add_argument("--frames", type=int, default=5, help="timed frames per method after a warm-up (default 5)")
    parser.add_argument("--batch", type=int, default=1, help="frames per forward pass (default 1)")
    parser.add_argument("--train-steps", default="4,16",
                        help="SADM rk4 step counts at which one training step is measured with the adjoint and "
                             "with plain backpropagation (default 4,16; empty to skip)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per measurement")


def _params(method: str, preset: str, overrides: list[str]) -> dict[str, Any]:
    from bench.config import apply_overrides
    from bench.methods.presets import load_model_params, preset_datasets

    if not preset_datasets(method):  # a method without configuration (copy-source)
        return {}
    return apply_overrides(load_model_params(method, preset), overrides)


def _train_rows(args: Any, device: str) -> list[tuple[int, Measurement, Measurement]]:
    rows = []
    for steps in [int(s) for s in args.train_steps.split(",") if s.strip()]:
        pair = []
        for adjoint in (True, False):
            overrides = ["losses.pretrained_vgg=false", "evolution.method=rk4", f"evolution.steps={steps}",
                         f"evolution.adjoint={str(adjoint).lower()}"]
            spec = {"method": "sadm", "kind": "train", "params": _params("sadm", args.preset, overrides),
                    "device": device, "size": args.size, "batch": args.batch,
                    "label": f"{'adjoint' if adjoint else 'backprop'}, {steps} steps"}
            pair.append(run_isolated(spec, args.timeout))
        rows.append((steps, pair[0], pair[1]))
    return rows


def run(args: Any) -> int:
    """Print the inference table and SADM's adjoint-vs-backprop training memory table."""
    from bench.methods import METHODS
    from bench.utils import pick_device

    if args.frames < 1 or args.batch < 1:
        raise UserError("--frames and --batch must be at least 1")
    device = str(pick_device(args.device))
    names = [n.strip() for n in args.methods.split(",") if n.strip()]
    print(f"inference, {args.size}x{args.size}, batch {args.batch}, preset '{args.preset}', device {device}, "
          f"torch threads {torch.get_num_threads()}")
    w = max([8] + [len(n) for n in names])
    print(f"{'method':{w}s} {'params':>12s} {'weights MiB':>11s} {'ms/frame':>9s} {'frames/s':>8s} "
          f"{'peak MiB':>9s} {'NFE':>4s}")
    for name in names:
        if name not in METHODS:
            print(f"{name:{w}s} skipped: not registered")
            continue
        try:
            params = _params(name, args.preset, [])
        except UserError as exc:
            print(f"{name:{w}s} skipped: {exc}")
            continue
        spec = {"method": name, "kind": "inference", "params": params, "device": device,
                "size": args.size, "batch": args.batch, "frames": args.frames}
        m = run_isolated(spec, args.timeout)
        nfe = "-" if m.nfe is None else str(m.nfe)
        print(f"{name:{w}s} {m.params:12,d} {m.weights_mib:11.1f} {median_ms(m):9.1f} {1000 / median_ms(m):8.2f} "
              f"{m.peak_mib:9.1f} {nfe:>4s}")
    print("(peak = growth over the memory held with the model and inputs loaded, warm-up frame included)")
    if "sadm" not in names or not args.train_steps.strip():
        return 0
    print(f"\nSADM training step (losses + backward), {args.size}x{args.size}, batch {args.batch}, rk4, random VGG-19")
    print(f"{'steps':>5s} {'NFE':>4s} {'adjoint MiB':>11s} {'backprop MiB':>12s} {'ratio':>6s} "
          f"{'adjoint s':>9s} {'backprop s':>10s}")
    for steps, adj, direct in _train_rows(args, device):
        print(f"{steps:5d} {adj.nfe:4d} {adj.peak_mib:11.1f} {direct.peak_mib:12.1f} "
              f"{adj.peak_mib / max(direct.peak_mib, 1e-9):6.2f} {adj.seconds[0]:9.2f} {direct.seconds[0]:10.2f}")
    print("(ratio = adjoint / backprop peak memory; below 1 means the adjoint saves memory)")
    return 0
