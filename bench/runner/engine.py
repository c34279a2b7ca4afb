"""``bench run`` end to end: plan, load, evaluate every item (resumably, sharded), aggregate, log.

One MLflow run per (method, dataset, task, variant), opened by the main process before the
first item is computed (so an unreachable server fails before any compute) and marked
``mb.status=complete`` once the summary is logged.
"""
from __future__ import annotations

import contextlib
import dataclasses
import platform
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from bench import tracking
from bench.datasets import get_dataset, resolve_root
from bench.datasets.sampling import animation_pairs, match_pairs, read_pairs_csv
from bench.datasets.spec import DatasetSpec
from bench.datasets.video_io import list_videos
from bench.errors import MissingWeightsError, UserError
from bench.methods.base import Method
from bench.metrics import NotApplicable, build_metric
from bench.metrics.base import Metric, MetricResult
from bench.metrics.report_io import write_results
from bench.runner import real_stats
from bench.runner.aggregate import aggregate
from bench.distributed import DistContext, barrier, gather_objects, init_distributed
from bench.runner.evaluate import ItemEvaluator, Timer
from bench.runner.items import Item, animation_items, prefetch, reconstruction_items
from bench.runner.loading import MethodPlan, build_planned, file_sha256, plan_method
from bench.runner.settings import DEFAULT_REFS, SELECTION_METRIC, RunSettings
from bench.runner.store import ResultStore
from bench.runner.videos import side_by_side, write_video
from bench.utils import seed_everything

PACKAGES = ("motionbench", "torch", "torchvision", "numpy", "mlflow", "lpips", "pytorch-fid", "face-alignment")


@dataclass
class TaskReport:
    """What one task of a run produced."""

    task: str
    out_dir: Path
    results: dict[str, MetricResult]
    skipped: dict[str, str]
    items: int
    computed: int
    timer: Timer
    wall: float
    run_id: str | None = None


def protocol_refs(settings: RunSettings, plan: MethodPlan) -> int:
    """N: ``--refs``, else the model's ``num_refs``, else the paper's 3."""
    if settings.refs is not None:
        return settings.refs
    return int(plan.config.get("num_refs", DEFAULT_REFS))


def task_run_key(settings: RunSettings, plan: MethodPlan, task: str) -> str:
    """``mb.run_key``: everything that changes the numbers of one task of a run."""
    return tracking.run_key(
        method=settings.method, dataset=settings.dataset, task=task, variant=settings.variant,
        num_refs=protocol_refs(settings, plan), seed=settings.seed, config_hash=plan.config_hash,
        checkpoint=plan.checkpoint_sha256, train_dataset=plan.train_dataset, metrics=settings.task_metrics(task),
        max_videos=settings.max_videos, num_pairs=settings.num_pairs if task == "animation" else None,
        pairs=file_sha256(settings.pairs) if settings.pairs and task == "animation" else None,
        best_of_refs=settings.best_of_refs)


def default_out(settings: RunSettings, plan: MethodPlan) -> Path:
    """``runs/<dataset>/<method>-<variant>-<hash>``: the same command resumes in the same folder,
    another configuration (checkpoint, config, N, seed, ...) gets its own."""
    digest = tracking.run_key(tasks={task: task_run_key(settings, plan, task) for task in settings.tasks()})[:8]
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


def build_metrics(settings: RunSettings, spec: DatasetSpec, task: str, device: torch.device,
                  options: dict[str, dict[str, Any]]) -> tuple[dict[str, Metric], dict[str, str]]:
    """Built metrics, and the N/A ones with their reason (missing weights are fatal with ``--strict``)."""
    built: dict[str, Metric] = {}
    unavailable: dict[str, str] = {}
    for name in settings.task_metrics(task):
        try:
            metric = build_metric(name, spec.domain, device, weights_dir=settings.weights_dir, **options.get(name, {}))
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
    selector = SELECTION_METRIC[task]
    if method.uses_refs:
        return "the method uses the reference views itself"
    if not settings.best_of_refs:
        return "turned off (--no-best-of-refs)"
    if refs == 0:
        return "no reference frames (--refs 0)"
    if selector not in metrics:
        return f"selection metric {selector} is {'N/A: ' + unavailable[selector] if selector in unavailable else 'not computed'}"
    return None


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def run_params(settings: RunSettings, plan: MethodPlan, task: str, refs: int, items: int, ctx: DistContext,
               device: torch.device) -> dict[str, Any]:
    return {
        "method": settings.method, "dataset": settings.dataset, "train_dataset": plan.train_dataset or "unknown",
        "task": task, "variant": settings.variant, "num_refs": refs, "seed": settings.seed,
        "config_hash": plan.config_hash, "config_source": plan.config_source, "config": plan.config,
        "origin": plan.origin, "checkpoint": plan.checkpoint or "none", "checkpoint_sha256": plan.checkpoint_sha256 or "none",
        "items": items, "max_videos": settings.max_videos, "num_pairs": settings.num_pairs if task == "animation" else None,
        "pairs_file": settings.pairs, "metrics": ",".join(settings.task_metrics(task)),
        "best_of_refs": settings.best_of_refs, "strict": settings.strict, "batch_size": settings.batch_size,
        "device": str(device), "world_size": ctx.world_size, "versions": package_versions(),
    }


def log_results(mlflow: Any, report: TaskReport) -> None:
    """Means, ``_std``, extras and N/A reasons of a task, then its files as artifacts."""
    for name, result in report.results.items():
        if result.available:
            mlflow.log_metric(name, float(result.value))
            for key, value in result.extra.items():
                if value == value and value is not None:  # skip NaN extras
                    mlflow.log_metric(f"{name}_{key}", float(value))
        elif result.na_reason:
            mlflow.set_tag(f"{tracking.TAG_PREFIX}na.{name}", result.na_reason[:5000])
    mlflow.log_metric("videos", report.items - len(report.skipped))
    mlflow.log_metric("nonfinite_videos", len(report.skipped))
    for file in ("per_video.csv", "summary.json"):
        mlflow.log_artifact(str(report.out_dir / file))
    videos = report.out_dir / "videos"
    if videos.is_dir():
        mlflow.log_artifacts(str(videos), artifact_path="videos")


@contextlib.contextmanager
def tracked(settings: RunSettings, ctx: DistContext, name: str, run_tags: dict[str, str],
            params: dict[str, Any]) -> Iterator[Any]:
    """The MLflow run of a task on the main process (None elsewhere or without tracking)."""
    if not (settings.track and ctx.is_main):
        yield None
        return
    with tracking.start_run(name, run_tags, params) as mlflow:
        yield mlflow


def evaluate_items(evaluator: ItemEvaluator, todo: list[Item], store: ResultStore, signature: list[str],
                   size: Any, refs: int, seed: int, best_of_refs: bool, videos_dir: Path,
                   save_videos: set[str]) -> float:
    """Evaluate ``todo`` (decoding ahead), saving each record as it finishes; returns the loop's seconds."""
    start = time.perf_counter()
    for loaded in prefetch(todo, size, refs, seed):
        keep = loaded.item.name in save_videos
        record, main = evaluator.evaluate(loaded, best_of_refs, keep_frames=keep)
        record["metrics"] = signature
        store.save(loaded.item.name, record)
        if keep and main.frames:
            generated = np.concatenate(main.frames)
            write_video(videos_dir, loaded.item.name, side_by_side(loaded.source, loaded.driving[: len(generated)], generated))
    return time.perf_counter() - start


@dataclass
class TaskWork:
    """What a task needs, prepared before any task computes (so input errors come first)."""

    task: str
    items: list[Item]
    metrics: dict[str, Metric]
    unavailable: dict[str, str]


def run_task(settings: RunSettings, plan: MethodPlan, method: Method, spec: DatasetSpec, root: Path, work: TaskWork,
             ctx: DistContext, device: torch.device) -> TaskReport:
    """Evaluate one task's items once each (skipping saved ones), then aggregate and log on rank 0."""
    task, items, metrics, unavailable = work.task, work.items, work.metrics, work.unavailable
    refs = protocol_refs(settings, plan)
    key = task_run_key(settings, plan, task)
    out_dir = settings.task_dir(task)
    store = ResultStore(out_dir / "state", key)
    cache_fid = task == "reconstruction" and "fid" in metrics
    reference = gather_objects(real_stats.load(metrics["fid"], spec, root, items) if cache_fid and ctx.is_main else None, ctx)[0]
    if reference is not None:
        metrics["fid"].reference = reference
    signature = sorted(metrics) + (["fid:cached-real-stats"] if reference is not None else [])
    best_reason = best_of_refs_reason(settings, method, refs, task, metrics, unavailable)
    run_tags = tracking.tags(kind="eval", method=settings.method, dataset=settings.dataset,
                             train_dataset=plan.train_dataset, task=task, variant=settings.variant, num_refs=refs,
                             seed=settings.seed, run_key=key, status="running")
    params = run_params(settings, plan, task, refs, len(items), ctx, device)
    run_name = f"{settings.method}/{settings.dataset}/{task}/{settings.variant}"
    with tracked(settings, ctx, run_name, run_tags, params) as mlflow:
        seed_everything(settings.seed)
        evaluator = ItemEvaluator(method, metrics, task, device, settings.batch_size)
        mine = ctx.shard(items)
        todo = [item for item in mine if not store.done(item.name, signature)]
        wall = evaluate_items(evaluator, todo, store, signature, spec.frame_size, refs, settings.seed,
                              best_reason is None, out_dir / "videos",
                              {item.name for item in items[: settings.save_videos]})
        records: dict[str, dict[str, Any]] = {}
        for part in gather_objects({item.name: store.load(item.name) for item in mine}, ctx):
            records.update(part)
        results, skipped = aggregate(records, settings.task_metrics(task), metrics, unavailable, best_reason,
                                     with_best=not method.uses_refs)
        report = TaskReport(task, out_dir, results, skipped, len(items), len(todo), evaluator.timer, wall)
        if ctx.is_main:
            if cache_fid and reference is None and not skipped:
                real_stats.save_from_states(metrics["fid"], [r["states"]["fid"] for r in records.values()],
                                            spec, root, items)
            write_results(out_dir, results, skipped)
            if mlflow is not None:
                log_results(mlflow, report)
                mlflow.set_tag(f"{tracking.TAG_PREFIX}status", "complete")
                report.run_id = mlflow.active_run().info.run_id
    return report


def run(settings: RunSettings, metric_options: dict[str, dict[str, Any]] | None = None) -> list[TaskReport]:
    """Evaluate ``settings.method`` on ``settings.dataset`` for the chosen task(s).

    ``metric_options`` pass keyword options to a metric's constructor (e.g. random backbones
    in plumbing tests: ``{"fid": {"pretrained": False}}``).
    """
    settings.validate()
    if settings.track:
        tracking.ensure_reachable()
    ctx = init_distributed(settings.device)
    plan = plan_method(settings)
    if settings.out is None:
        settings = dataclasses.replace(settings, out=str(default_out(settings, plan)))
    spec = get_dataset(settings.dataset)
    if ctx.is_main:  # may generate the synthetic set: once, before the other ranks look
        resolve_root(spec, settings.root)
    barrier(ctx)
    root = resolve_root(spec, settings.root)
    device = ctx.device
    work = [TaskWork(task, task_items(settings, spec, root, task),
                     *build_metrics(settings, spec, task, device, metric_options or {})) for task in settings.tasks()]
    method = build_planned(plan, settings.trusted).to(device)
    return [run_task(settings, plan, method, spec, root, task_work, ctx, device) for task_work in work]
