"""``bench perf profile``: where an evaluation's time goes, by ``torch.profiler`` over one ``bench run``.

The method's forward, each of its sub-modules two levels deep (SADM: the keypoint detector, the
coefficient network, the ODE solve ``evolution`` and its network ``evolution.dynamics``, the generator's
blocks) and each metric's updates are labelled ranges (``record_function``); a module's time outside
its labelled sub-modules is its own code (for SADM's ``evolution``: the solver's steps, i.e. torchdiffeq's
state updates around the network's evaluations). The ranges' totals are wall time on the CPU, under
the profiler's own per-operator overhead; the top operators by self time follow.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

#: prefixes of the labelled ranges
PART, FORWARD, METRIC = "part:", "method forward", "metric update:"
#: how deep into the method's modules the table goes (1: its direct sub-modules); ranges go one level deeper
#: (the modules of a ModuleList)
DEPTH = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``bench perf eval``'s options (defaults: SADM's synthetic preset on 2 videos) and the table length."""
    from bench.runner.perf import DEFAULTS, add_arguments as eval_options

    eval_options(parser, {**DEFAULTS, "method": ("sadm", "method to profile (default sadm)"),
                          "max_videos": (2, "videos / pairs to evaluate (default 2)")})
    parser.add_argument("--top", type=int, default=12, help="operators listed by self time (default 12)")


def _labelled(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
    from torch.profiler import record_function

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        with record_function(label):
            return fn(*args, **kwargs)
    return call


@contextlib.contextmanager
def labelled_ranges(method: Any, metrics: dict[str, Any]) -> Iterator[list[str]]:
    """Label the method's forward, its modules up to :data:`DEPTH` and the metrics' updates; yields the module
    labels in module order. Everything is undone on exit."""
    from torch.profiler import record_function

    handles, labels, open_ranges = [], [], {}
    for name, module in method.named_modules():
        if not name or name.count(".") + 1 > DEPTH + 1:
            continue
        labels.append(name)

        def enter(mod: Any, args: Any, label: str = PART + name) -> None:
            open_ranges.setdefault(id(mod), []).append(record_function(label).__enter__())

        def leave(mod: Any, args: Any, out: Any) -> None:
            open_ranges[id(mod)].pop().__exit__(None, None, None)
        handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    patched = [(method, "generate"), (method, "animate")] + [(metric, "update") for metric in metrics.values()]
    names = [FORWARD, FORWARD] + [f"{METRIC} {name}" for name in metrics]
    for (owner, attr), label in zip(patched, names):
        setattr(owner, attr, _labelled(getattr(owner, attr), label))
    try:
        yield labels
    finally:
        for handle in handles:
            handle.remove()
        for owner, attr in patched:
            object.__delattr__(owner, attr)


def _children(name: str, modules: list[str]) -> list[str]:
    return [m for m in modules if m.startswith(name + ".") and m.count(".") == name.count(".") + 1]


def module_seconds(name: str, totals: dict[str, float], modules: list[str]) -> float:
    """A module's time: its labelled range, or (a container whose forward is not called: a ModuleList, SADM's
    generator) the sum of its sub-modules'."""
    if PART + name in totals:
        return totals[PART + name]
    return sum(module_seconds(child, totals, modules) for child in _children(name, modules))


def part_rows(totals: dict[str, float], modules: list[str]) -> list[tuple[str, float]]:
    """``(row, seconds)``: the method's forward, each module down to :data:`DEPTH` that took time (indented by
    depth), a direct sub-module of the method followed, where it ran and has sub-modules that ran, by its time
    outside them; then the metric updates."""
    rows = [(FORWARD, totals.get(FORWARD, 0.0))]
    for name in modules:
        depth = name.count(".") + 1
        seconds = module_seconds(name, totals, modules)
        if depth > DEPTH or seconds == 0:
            continue
        rows.append(("  " * depth + name + ("" if PART + name in totals else " (its sub-modules)"), seconds))
        inner = sum(module_seconds(child, totals, modules) for child in _children(name, modules))
        if inner and PART + name in totals and depth < DEPTH:
            rows.append(("  " * (depth + 1) + "(outside its sub-modules)", seconds - inner))
    metric_rows = [("  " + key[len(METRIC):].strip(), value) for key, value in totals.items() if key.startswith(METRIC)]
    rows.append(("metric updates", sum(value for _, value in metric_rows)))
    return rows + sorted(metric_rows)


def _profiled(args: argparse.Namespace, out: Path) -> tuple[Any, Any, Any, list[str]]:
    """Plan the run, then evaluate it under the profiler with the ranges labelled."""
    from torch.profiler import ProfilerActivity, profile

    from bench.runner import execute, plan_run
    from bench.runner.perf import run_settings

    plan = plan_run(run_settings(args, out))
    with labelled_ranges(plan.method, plan.tasks[0].metrics) as modules, \
            profile(activities=[ProfilerActivity.CPU]) as prof:
        (report,) = execute(plan)
    return plan, report, prof, modules


def run(args: argparse.Namespace) -> int:
    import torch

    with tempfile.TemporaryDirectory(prefix="bench-perf-profile-") as out:
        plan, report, prof, modules = _profiled(args, Path(out))
    events = prof.key_averages()
    totals = {e.key: e.cpu_time_total / 1e6 for e in events if e.key.startswith((PART, FORWARD, METRIC))}
    wall, timer = report.wall, report.timer
    print(f"{args.method} on {plan.settings.dataset} ({args.task}) on {plan.ctx.device}, precision {args.precision}, "
          f"{torch.get_num_threads()} thread(s): {timer.frames} frames; evaluation loop {wall:.2f} s under the profiler")
    print(f"{'part':44s} {'seconds':>8s} {'share':>7s}")
    rows = part_rows(totals, modules)
    rows.append(("outside method and metrics", max(0.0, wall - rows[0][1] - next(v for k, v in rows if
                                                                                   k == "metric updates"))))
    for name, seconds in rows:
        print(f"{name:44s} {seconds:8.3f} {seconds / wall:7.1%}")
    ops = sorted((e for e in events if not e.key.startswith((PART, FORWARD, METRIC))),
                 key=lambda e: e.self_cpu_time_total, reverse=True)[:args.top]
    print(f"\n{'operator (self time)':44s} {'seconds':>8s} {'share':>7s} {'calls':>8s}")
    for e in ops:
        print(f"{e.key[:44]:44s} {e.self_cpu_time_total / 1e6:8.3f} {e.self_cpu_time_total / 1e6 / wall:7.1%} "
              f"{e.count:8d}")
    return 0
