"""``bench run`` execution: evaluate every item of a planned run (resumably, sharded), aggregate, log.

One MLflow run per (method, dataset, task, variant), opened by the main process before the
first item is computed (so an unreachable server fails before any compute) and marked
``mb.status=complete`` once the summary is logged. Everything a task needs comes from its
:class:`~bench.runner.plan.TaskPlan`.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from bench import tracking
from bench.distributed import gather_objects
from bench.metrics.aggregation import MetricResult
from bench.metrics.report_io import intervals, write_results
from bench.runner import real_stats
from bench.runner.aggregate import aggregate_records
from bench.runner.evaluate import ItemEvaluator, Timer
from bench.runner.items import prefetch
from bench.runner.plan import RunPlan, TaskPlan, plan_run
from bench.runner.records import RECORD_FORMAT
from bench.runner.settings import RunSettings
from bench.runner.store import ResultStore
from bench.runner.videos import side_by_side, write_video
from bench.utils import seed_everything


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


def result_metrics(report: TaskReport) -> dict[str, float]:
    """The MLflow metrics of a task: means, extras (``_std`` ...), intervals (``<metric>_ci_low`` / ``_ci_high``)
    and the video counts."""
    values: dict[str, float] = {}
    for name, (low, high) in intervals(report.results).items():
        values.update({f"{name}_ci_low": low, f"{name}_ci_high": high})
    for name, result in report.results.items():
        if result.available:
            values[name] = float(result.value)
            values.update({f"{name}_{key}": float(value) for key, value in result.extra.items()
                           if value is not None and value == value})  # skip NaN extras
    values["videos"] = report.items - len(report.skipped)
    values["nonfinite_videos"] = len(report.skipped)
    return values


def log_results(mlflow: Any, report: TaskReport) -> None:
    """Log a task's metrics (one batch), N/A reasons and files."""
    values = result_metrics(report)
    mlflow.log_metrics(values)
    for name, result in report.results.items():
        if not result.available and result.na_reason:
            mlflow.set_tag(f"{tracking.TAG_PREFIX}na.{name}", result.na_reason[:5000])
    for file in ("per_video.csv", "summary.json"):
        mlflow.log_artifact(str(report.out_dir / file))
    videos = report.out_dir / "videos"
    if videos.is_dir():
        mlflow.log_artifacts(str(videos), artifact_path="videos")


@contextlib.contextmanager
def tracked(plan: RunPlan, task: TaskPlan) -> Iterator[Any]:
    """The MLflow run of a task on the main process (None elsewhere or without tracking)."""
    if not (plan.track and plan.ctx.is_main):
        yield None
        return
    with tracking.start_run(task.run_name, task.tags, task.params) as mlflow:
        yield mlflow


def record_signature(task: TaskPlan, cached_real_stats: Sequence[str] = ()) -> list[str]:
    """What a saved per-video record must match to be reused (else the video is recomputed); ``cached_real_stats``:
    the metrics whose real summary came from the cache (their records hold no real features)."""
    return [f"format:{RECORD_FORMAT}", f"run:{task.run_key}", *sorted(task.metrics),
            *(f"{name}:cached-real-stats" for name in sorted(cached_real_stats))]


def evaluate_items(plan: RunPlan, task: TaskPlan, evaluator: ItemEvaluator, store: ResultStore,
                   signature: list[str]) -> tuple[int, float]:
    """Evaluate this rank's unfinished items (decoding ahead), saving each record as it finishes.

    Returns the number computed now and the loop's seconds.
    """
    todo = [item for item in plan.ctx.shard(task.items) if not store.done(item.name, signature)]
    keep = task.save_videos
    start = time.perf_counter()
    for loaded in prefetch(todo, plan.spec.frame_size, plan.refs, plan.seed):
        name = loaded.item.name
        record, main = evaluator.evaluate(loaded, task.best_reason is None, keep_frames=name in keep)
        record["metrics"] = signature
        store.save(name, record)
        if name in keep and main.frames:
            generated = np.concatenate(main.frames)
            write_video(task.out_dir / "videos", name,
                        side_by_side(loaded.source, loaded.driving[: len(generated)], generated))
    return len(todo), time.perf_counter() - start


def run_task(plan: RunPlan, task: TaskPlan) -> TaskReport:
    """Evaluate one task's items once each (skipping saved ones), then aggregate and log on rank 0."""
    ctx = plan.ctx
    store = ResultStore(task.out_dir / "state", task.run_key)
    cached = real_stats.cached_metrics(task.metrics) if task.task == "reconstruction" else {}
    found = gather_objects(real_stats.load_all(cached, plan.spec, plan.root, task.items)
                           if cached and ctx.is_main else None, ctx)[0] or {}
    for name, reference in found.items():
        cached[name].reference = reference
    signature = record_signature(task, list(found))
    with tracked(plan, task) as mlflow:
        seed_everything(plan.seed)
        evaluator = ItemEvaluator(plan.method, task.metrics, task.task, ctx.device, plan.batch_size,
                                  precision=plan.precision)
        computed, wall = evaluate_items(plan, task, evaluator, store, signature)
        records: dict[str, dict[str, Any]] = {}
        for part in gather_objects({item.name: store.load(item.name) for item in ctx.shard(task.items)}, ctx):
            records.update(part)
        results, skipped = aggregate_records(records, task.metric_names, task.metrics, task.unavailable,
                                             task.best_reason, plan.convention, plan.intervals, task.with_best)
        report = TaskReport(task.task, task.out_dir, results, skipped, len(task.items), computed, evaluator.timer, wall)
        if ctx.is_main:
            if cached and not skipped:
                real_stats.save_all(cached, records, list(found), plan.spec, plan.root, task.items)
            write_results(task.out_dir, results, skipped, run=task.params, convention=plan.convention,
                          intervals=plan.intervals)
            if mlflow is not None:
                with tracking.store_errors():  # the results are already on disk: a store failure loses nothing
                    log_results(mlflow, report)
                    mlflow.set_tag(f"{tracking.TAG_PREFIX}status", "complete")
                    report.run_id = mlflow.active_run().info.run_id
    return report


def execute(plan: RunPlan) -> list[TaskReport]:
    """Run every task of ``plan``."""
    return [run_task(plan, task) for task in plan.tasks]


def run(settings: RunSettings, metric_options: dict[str, dict[str, Any]] | None = None) -> list[TaskReport]:
    """Plan, then execute: evaluate ``settings.method`` on ``settings.dataset`` for the chosen task(s)."""
    return execute(plan_run(settings, metric_options))
