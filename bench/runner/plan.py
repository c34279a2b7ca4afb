"""A run planned once: settings -> method, dataset, tasks (items, metrics, run keys, folders, params).

:func:`plan_run` resolves and validates everything a run needs before any frame is generated
(inputs, the checkpoint, metric weights under ``--strict``, output folders) and settles every
derived fact once (N, the backends, the model's layout and precision, the averaging convention,
the interval settings): the engine executes the plan and nothing downstream derives them again.
"""
from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench import tracking
from bench.datasets import get_dataset, resolve_root
from bench.datasets.sampling import animation_pairs, match_pairs, read_pairs_csv
from bench.datasets.spec import DatasetSpec
from bench.datasets.video_io import list_videos
from bench.distributed import DistContext, barrier, init_distributed
from bench.errors import MissingWeightsError, UserError
from bench.files import ensure_folder
from bench.methods.base import Method
from bench.metrics import NotApplicable, build_metric, metric_info
from bench.metrics.base import Metric
from bench.metrics.bootstrap import IntervalSpec
from bench.metrics.factory import check_backends, choose_backend
from bench.metrics.tasks import check_requested, task_metrics
from bench.precision import Precision, get_precision
from bench.protocol import PROTOCOL
from bench.runner.items import Item, animation_items, reconstruction_items
from bench.runner.loading import MethodPlan, build_planned, plan_method, untrained_origin
from bench.runner.records import (backends_text, default_out, items_digest, pairs_sha256, task_params,
                                  task_run_key)
from bench.runner.settings import RunSettings, torch_memory_format
from bench.runner.videos import chosen_items


@dataclass
class TaskPlan:
    """One task of a run: what to evaluate, with which metrics, where results go, how it is tracked."""

    task: str
    items: list[Item]
    metric_names: list[str]
    metrics: dict[str, Metric]
    unavailable: dict[str, str]
    run_key: str
    out_dir: Path
    best_reason: str | None  # None: best-of-references numbers are computed; else why not
    with_best: bool  # whether the results have ``<metric>_best`` entries (not for multi-view methods)
    save_videos: set[str] = field(default_factory=set)  # items whose side-by-side videos are written
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def run_name(self) -> str:
        return "/".join((self.params["method"], self.params["dataset"], self.task, self.params["variant"]))


@dataclass
class RunPlan:
    """The whole run with its facts resolved once: the method (built, on its device, in its layout and
    precision), the dataset, N, the task plans, and the values the engine reads."""

    settings: RunSettings  # ``out`` resolved; kept for the record only
    method_plan: MethodPlan
    method: Method
    spec: DatasetSpec
    root: Path
    ctx: DistContext
    tasks: list[TaskPlan]
    refs: int
    precision: Precision
    intervals: IntervalSpec
    layout: str  # the model's memory format (a --memory-format name, resolved)
    convention: str
    seed: int
    batch_size: int
    track: bool


@dataclass(frozen=True)
class Keys:
    """What ``settings`` plan to compute before anything is built: each task's metrics and run key."""

    metrics: dict[str, list[str]]
    run_keys: dict[str, str]


def plan_keys_of(settings: RunSettings, method: MethodPlan) -> Keys:
    """Each task's metric names and run key (``settings`` validated)."""
    pairs = pairs_sha256(settings.pairs)
    metrics = {task: task_metrics(task, settings.metrics, settings.task != "all") for task in settings.tasks()}
    return Keys(metrics, {task: task_run_key(settings, method, task, names, pairs) for task, names in metrics.items()})


def plan_keys(settings: RunSettings) -> dict[str, str]:
    """Validate ``settings`` and return the run key of each task (reads the checkpoint; builds nothing)."""
    settings.validate()
    check_requested(settings.metrics, settings.tasks())
    return plan_keys_of(settings, plan_method(settings)).run_keys


def task_items(spec: DatasetSpec, root: Path, task: str, pairs: str | None, num_pairs: int, seed: int,
               max_videos: int | None) -> list[Item]:
    """The task's items in protocol order, cut to ``max_videos``."""
    videos = list_videos(root, "test", spec)
    if not videos:
        raise UserError(f"no test videos in {root / 'test'}")
    if task == "reconstruction":
        items = reconstruction_items(videos)
    else:
        chosen = read_pairs_csv(pairs) if pairs else animation_pairs(videos, num_pairs, seed)
        items = animation_items(match_pairs(chosen, videos))
    return items[:max_videos] if max_videos is not None else items


@dataclass(frozen=True)
class MetricSetup:
    """How a run's metrics are built: their domain, device, requested backends, weights and options."""

    domain: str | None
    device: torch.device
    backends: dict[str, str]
    weights_dir: str | None = None
    allow_download: bool = False
    strict: bool = False
    options: dict[str, dict[str, Any]] = field(default_factory=dict)


def build_metrics(names: list[str], task: str, setup: MetricSetup) -> tuple[dict[str, Metric], dict[str, str]]:
    """Built metrics (each with its declared target for ``task`` and its backend), and the N/A ones with their
    reason: a metric that does not apply, or whose weights are missing (fatal with ``setup.strict``)."""
    built: dict[str, Metric] = {}
    unavailable: dict[str, str] = {}
    for name in names:
        try:
            metric = build_metric(name, setup.domain, setup.device, weights_dir=setup.weights_dir,
                                  backend=setup.backends.get(name), allow_download=setup.allow_download,
                                  target=metric_info(name).target(task), **setup.options.get(name, {}))
        except MissingWeightsError as exc:
            if setup.strict:
                raise
            unavailable[name] = str(exc)
            continue
        if isinstance(metric, NotApplicable):
            unavailable[name] = metric.reason
        else:
            built[name] = metric
    return built, unavailable


def best_of_refs_reason(method: Method, wanted: bool, refs: int, task: str, metrics: dict[str, Metric],
                        unavailable: dict[str, str]) -> str | None:
    """None when ``_best`` numbers are computed, else why not."""
    selector = PROTOCOL[task].selection
    if method.uses_refs:
        return "the method uses the reference views itself"
    if not wanted:
        return "turned off (--no-best-of-refs)"
    if refs == 0:
        return "no reference frames (--refs 0)"
    if selector not in metrics:
        return f"selection metric {selector} is {'N/A: ' + unavailable[selector] if selector in unavailable else 'not computed'}"
    return None


def _checked(settings: RunSettings) -> tuple[RunSettings, MethodPlan, Keys, dict[str, str]]:
    """Validate ``settings`` (metrics, backends, the tracking store, the checkpoint); resolve ``out``;
    return them with the method plan, the keys and the requested backends (parsed once)."""
    settings.validate()
    check_requested(settings.metrics, settings.tasks())
    if settings.track:
        tracking.ensure_reachable()
    method_plan = plan_method(settings)
    keys = plan_keys_of(settings, method_plan)
    backends = settings.backend_choices()
    check_backends(backends)
    computed = {name for names in keys.metrics.values() for name in names}
    stray = sorted(set(backends) - computed)
    if stray:
        raise UserError(f"--backend {stray[0]}=...: '{stray[0]}' is not computed by this run "
                        f"(its metrics: {', '.join(sorted(computed))})")
    if settings.out is None:
        settings = dataclasses.replace(settings, out=str(default_out(settings, keys.run_keys)))
    return settings, method_plan, keys, backends


def _built(method_plan: MethodPlan, settings: RunSettings, precision: Precision) -> tuple[Method, MethodPlan]:
    """The planned method, built once (random weights drawn in the run's precision), with its weights' origin
    settled (no weights given: refused unless nothing is learned or ``--random-init``)."""
    with precision.scope():
        method = build_planned(method_plan)
    if method_plan.origin == "config":
        method_plan = dataclasses.replace(method_plan, origin=untrained_origin(settings, method))
    return method, method_plan


def _task_plan(plan: RunPlan, task: str, names: list[str], key: str, backends: dict[str, str],
               options: dict[str, dict[str, Any]], invocation: str) -> TaskPlan:
    """One task's items, metrics (built), folders, params and tags."""
    settings, spec, method = plan.settings, plan.spec, plan.method
    items = task_items(spec, plan.root, task, settings.pairs, settings.num_pairs, plan.seed, settings.max_videos)
    if not items:
        raise UserError(f"no {task} items to evaluate in {plan.root} (check the test split and the pairs)")
    setup = MetricSetup(spec.domain, plan.ctx.device, backends, settings.weights_dir, settings.allow_download,
                        settings.strict, options)
    metrics, unavailable = build_metrics(names, task, setup)
    used = {name: choose_backend(name, spec.domain, backends.get(name)) or "none" for name in metrics}
    out = TaskPlan(task, items, names, metrics, unavailable, key, settings.task_dir(task),
                   best_of_refs_reason(method, settings.best_of_refs, plan.refs, task, metrics, unavailable),
                   with_best=not method.uses_refs,
                   save_videos=set(chosen_items([i.name for i in items], settings.save_videos, plan.seed)))
    out.params = task_params(settings, plan.method_plan, task=task, num_refs=plan.refs, items=len(items),
                             metrics=",".join(names), device=str(plan.ctx.device), memory_format_used=plan.layout,
                             world_size=plan.ctx.world_size, metric_backends=used,
                             intervals=plan.intervals.record())
    out.tags = tracking.tags(kind="eval", method=settings.method, dataset=settings.dataset,
                             train_dataset=plan.method_plan.train_dataset, task=task, variant=settings.variant,
                             num_refs=plan.refs, seed=plan.seed, convention=plan.convention, run_key=key,
                             status="running", weights=plan.method_plan.origin, precision=plan.precision.name,
                             items=items_digest(items), backends=backends_text(used), invocation=invocation)
    return out


def plan_run(settings: RunSettings, metric_options: dict[str, dict[str, Any]] | None = None,
             ctx: DistContext | None = None) -> RunPlan:
    """Resolve and validate everything ``settings`` ask for; build the method and the metrics.

    ``metric_options`` pass keyword options to a metric's constructor (e.g. random backbones in
    plumbing tests: ``{"fid": {"pretrained": False}}``); ``ctx`` is the process group when the
    caller already joined it (a sweep), else it is joined here.
    """
    settings, method_plan, keys, backends = _checked(settings)
    ctx = ctx or init_distributed(settings.device)
    precision = get_precision(settings.precision)
    method, method_plan = _built(method_plan, settings, precision)
    spec = get_dataset(settings.dataset)
    if ctx.is_main:  # may generate the synthetic set: once, before the other ranks look
        resolve_root(spec, settings.root)
    barrier(ctx)
    layout = settings.resolved_memory_format(ctx.device)
    plan = RunPlan(settings, method_plan, method, spec, resolve_root(spec, settings.root), ctx, [],
                   settings.num_refs, precision, settings.intervals(), layout, settings.convention, settings.seed,
                   settings.batch_size, settings.track)
    invocation = uuid.uuid4().hex[:12]  # one bench run call: its tasks share it (tables say when rows mix calls)
    plan.tasks = [_task_plan(plan, task, names, keys.run_keys[task], backends, metric_options or {}, invocation)
                  for task, names in keys.metrics.items()]
    for task in plan.tasks:  # last of the checks (after --strict ones), before any compute
        ensure_folder(task.out_dir)
    plan.method = method.to(ctx.device, precision.dtype, memory_format=torch_memory_format(layout))
    return plan
