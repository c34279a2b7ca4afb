"""The evaluation runner behind ``bench run`` and ``bench sweep``: the paper's protocols,
per-video resumable results, torchrun sharding and MLflow logging."""
from __future__ import annotations

from bench.runner.engine import TaskReport, run, task_run_key
from bench.runner.loading import plan_method
from bench.runner.settings import TASK_METRICS, TASKS, RunSettings

__all__ = ["RunSettings", "TASKS", "TASK_METRICS", "TaskReport", "plan_method", "run", "task_run_key"]
