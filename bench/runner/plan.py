"""A run planned once: settings -> method, dataset, tasks (items, metrics, run keys, folders, params).

:func:`plan_run` resolves and validates everything a run needs before any frame is generated
(inputs, the checkpoint, metric weights under ``--strict``, output folders); the engine then
executes the plan and nothing downstream derives these facts again.
"""
from __future__ import annotations

import dataclasses
import platform
import subprocess
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
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
from bench.precision import Precision, get_precision
from bench.metrics import NotApplicable, build_metric, metric_info
from bench.metrics.factory import choose_backend
from bench.metrics.base import Metric
from bench.metrics.bootstrap import IntervalSpec
from bench.runner.items import Item, animation_items, reconstruction_items
from bench.runner.loading import MethodPlan, build_planned, plan_method, untrained_origin
from bench.metrics.tasks import check_requested, task_metrics
from bench.protocol import PROTOCOL
from bench.runner.settings import MEMORY_FORMATS, RunSettings, settings_record
from bench.runner.videos import chosen_items

PACKAGES = ("motionbench", "torch", "torchvision", "numpy", "mlflow", "lpips", "pytorch-fid", "face-alignment")
#: version of the per-video record format; records of another version are recomputed
RECORD_FORMAT = 2


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
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def run_name(self) -> str:
        return "/".join((self.params["method"], self.params["dataset"], self.task, self.params["variant"]))

    @property
    def save_videos(self) -> set[str]:
        """Names of the items whose side-by-side videos are written: the same seeded choice for every method."""
        return set(chosen_items([item.name for item in self.items], self.params["save_videos"], self.params["seed"]))


@dataclass
class RunPlan:
    """The whole run: resolved settings (``out`` set), the method, dataset, N and the task plans."""

    settings: RunSettings
    method_plan: MethodPlan
    method: Method
    spec: DatasetSpec
    root: Path
    refs: int
    ctx: DistContext
    tasks: list[TaskPlan]
    precision: Precision
    intervals: IntervalSpec


def file_sha256(path: str | Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def task_run_key(settings: RunSettings, method: MethodPlan, task: str, metrics: list[str],
                 pairs_sha256: str | None) -> str:
    """``mb.run_key``: everything that changes the numbers of one task of a run."""
    return tracking.run_key(
        method=settings.method, dataset=settings.dataset, task=task, variant=settings.variant,
        num_refs=settings.num_refs, seed=settings.seed, config_hash=method.config_hash,
        checkpoint=method.checkpoint_sha256, train_dataset=method.train_dataset, metrics=metrics,
        convention=settings.convention, backends=sorted(settings.backends), max_videos=settings.max_videos,
        precision=settings.precision, num_pairs=settings.num_pairs if task == "animation" else None,
        pairs=pairs_sha256 if task == "animation" else None, best_of_refs=settings.best_of_refs)


def metrics_and_keys(settings: RunSettings, method: MethodPlan) -> dict[str, tuple[list[str], str]]:
    """Each task of (validated) ``settings``: its metric names and its run key."""
    pairs = _pairs_sha256(settings)
    out = {}
    for task in settings.tasks():
        names = task_metrics(task, settings.metrics, settings.task != "all")
        out[task] = (names, task_run_key(settings, method, task, names, pairs))
    return out


def plan_keys(settings: RunSettings) -> dict[str, str]:
    """Validate ``settings`` and return the run key of each task (reads the checkpoint; builds nothing)."""
    settings.validate()
    check_requested(settings.metrics, settings.tasks())
    return {task: key for task, (_, key) in metrics_and_keys(settings, plan_method(settings)).items()}


def _pairs_sha256(settings: RunSettings) -> str | None:
    if not settings.pairs:
        return None
    if not Path(settings.pairs).is_file():
        raise UserError(f"pairs file not found: {settings.pairs}")
    return file_sha256(settings.pairs)


def items_digest(items: list[Item]) -> str:
    """``mb.items``: what was evaluated (the items' names in order: videos, or source->driving pairs)."""
    return tracking.run_key(items=[item.name for item in items])


def backends_text(backends: dict[str, str]) -> str:
    """``mb.backends``: each computed metric's backend, ``akd=dlib,fid=inception`` (metrics without one left out)."""
    chosen = [f"{name}={backend}" for name, backend in sorted(backends.items()) if backend != "none"]
    return ",".join(chosen) or "none"


def default_out(settings: RunSettings, keys: dict[str, str]) -> Path:
    """``runs/<dataset>/<method>-<variant>-<hash>``: the same command resumes in the same folder,
    another configuration (checkpoint, config, N, seed, ...) gets its own."""
    digest = tracking.run_key(tasks=keys)[:8]
    return Path("runs") / settings.dataset / f"{settings.method}-{settings.variant}-{digest}"


def task_items(settings: RunSettings, spec: DatasetSpec, root: Path, task: str) -> list[Item]:
    """The task's items in protocol order, cut to ``--max-videos``."""
    videos = list_videos(root, "test", spec)
    if not videos:
        raise UserError(f"no test videos in {root / 'test'}")
    if task == "reconstruction":
        items = reconstruction_items(videos)
    else:
        pairs = read_pairs_csv(settings.pairs) if settings.pairs else animation_pairs(videos, settings.num_pairs, settings.seed)
        items = animation_items(match_pairs(pairs, videos))
    return items[: settings.max_videos] if settings.max_videos is not None else items


def build_metrics(settings: RunSettings, spec: DatasetSpec, task: str, names: list[str], device: torch.device,
                  options: dict[str, dict[str, Any]]) -> tuple[dict[str, Metric], dict[str, str]]:
    """Built metrics (each with its declared target for ``task``), and the N/A ones with their reason
    (missing weights are fatal with ``--strict``)."""
    built: dict[str, Metric] = {}
    unavailable: dict[str, str] = {}
    backends = settings.backend_choices()
    for name in names:
        try:
            metric = build_metric(name, spec.domain, device, weights_dir=settings.weights_dir,
                                  backend=backends.get(name), target=metric_info(name).target(task),
                                  **options.get(name, {}))
        except MissingWeightsError as exc:
            if settings.strict:
                raise
            unavailable[name] = str(exc)
            continue
        if isinstance(metric, NotApplicable):
            unavailable[name] = metric.reason
        else:
            built[name] = metric
    return built, unavailable


def best_of_refs_reason(settings: RunSettings, method: Method, refs: int, task: str, metrics: dict[str, Metric],
                        unavailable: dict[str, str]) -> str | None:
    """None when ``_best`` numbers are computed, else why not."""
    selector = PROTOCOL[task].selection
    if method.uses_refs:
        return "the method uses the reference views itself"
    if not settings.best_of_refs:
        return "turned off (--no-best-of-refs)"
    if refs == 0:
        return "no reference frames (--refs 0)"
    if selector not in metrics:
        return f"selection metric {selector} is {'N/A: ' + unavailable[selector] if selector in unavailable else 'not computed'}"
    return None


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The commit of the motionbench checkout in use (None when not run from a git checkout)."""
    source = Path(__file__).resolve().parents[2]
    if not (source / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _task_params(plan_settings: RunSettings, method: MethodPlan, task: str, refs: int, items: int,
                 names: list[str], ctx: DistContext) -> dict[str, Any]:
    return {**settings_record(plan_settings), **method.record(), "task": task, "num_refs": refs, "items": items,
            "metrics": ",".join(names), "record_format": RECORD_FORMAT, "device": str(ctx.device),
            "memory_format_used": plan_settings.resolved_memory_format(ctx.device),
            "world_size": ctx.world_size, "versions": package_versions(), "git_revision": git_revision() or "unknown"}


def plan_run(settings: RunSettings, metric_options: dict[str, dict[str, Any]] | None = None,
             ctx: DistContext | None = None) -> RunPlan:
    """Resolve and validate everything ``settings`` ask for; build the method and the metrics.

    ``metric_options`` pass keyword options to a metric's constructor (e.g. random backbones in
    plumbing tests: ``{"fid": {"pretrained": False}}``); ``ctx`` is the process group when the
    caller already joined it (a sweep), else it is joined here.
    """
    settings.validate()
    check_requested(settings.metrics, settings.tasks())
    if settings.track:
        tracking.ensure_reachable()
    ctx = ctx or init_distributed(settings.device)
    method_plan = plan_method(settings)
    per_task = metrics_and_keys(settings, method_plan)
    computed = {name for names, _ in per_task.values() for name in names}
    stray = sorted(set(settings.backend_choices()) - computed)
    if stray:
        raise UserError(f"--backend {stray[0]}=...: '{stray[0]}' is not computed by this run "
                        f"(its metrics: {', '.join(sorted(computed))})")
    if settings.out is None:
        keys = {task: key for task, (_, key) in per_task.items()}
        settings = dataclasses.replace(settings, out=str(default_out(settings, keys)))
    precision = get_precision(settings.precision)
    with precision.scope():  # --random-init weights drawn in the run's precision (see bench.precision)
        method = build_planned(method_plan)
    if method_plan.origin == "config":  # no weights given: refused unless nothing is learned or --random-init
        method_plan = dataclasses.replace(method_plan, origin=untrained_origin(settings, method))
    spec = get_dataset(settings.dataset)
    if ctx.is_main:  # may generate the synthetic set: once, before the other ranks look
        resolve_root(spec, settings.root)
    barrier(ctx)
    root = resolve_root(spec, settings.root)
    refs = settings.num_refs
    invocation = uuid.uuid4().hex[:12]  # one bench run call: its tasks share it (tables say when rows mix calls)
    tasks = []
    for task, (names, key) in per_task.items():
        items = task_items(settings, spec, root, task)
        if not items:
            raise UserError(f"no {task} items to evaluate in {root} (check the test split and the pairs)")
        metrics, unavailable = build_metrics(settings, spec, task, names, ctx.device, metric_options or {})
        plan = TaskPlan(task, items, names, metrics, unavailable, key, settings.task_dir(task),
                        best_of_refs_reason(settings, method, refs, task, metrics, unavailable),
                        with_best=not method.uses_refs)
        plan.params = _task_params(settings, method_plan, task, refs, len(items), names, ctx)
        plan.params["metric_backends"] = {  # the backend each metric used, defaults resolved (recorded)
            name: choose_backend(name, spec.domain, settings.backend_choices().get(name)) or "none"
            for name in metrics}
        plan.tags = tracking.tags(kind="eval", method=settings.method, dataset=settings.dataset,
                                  train_dataset=method_plan.train_dataset, task=task, variant=settings.variant,
                                  num_refs=refs, seed=settings.seed, convention=settings.convention, run_key=key,
                                  status="running", weights=method_plan.origin, precision=settings.precision,
                                  items=items_digest(items), backends=backends_text(plan.params["metric_backends"]),
                                  invocation=invocation)
        tasks.append(plan)
    for plan in tasks:  # last of the checks (after --strict ones), before any compute
        ensure_folder(plan.out_dir)
    layout = MEMORY_FORMATS[settings.resolved_memory_format(ctx.device)]
    method = method.to(ctx.device, precision.dtype, memory_format=layout)
    return RunPlan(settings, method_plan, method, spec, root, refs, ctx, tasks, precision, settings.intervals())
