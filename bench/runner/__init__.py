"""The evaluation runner behind ``bench run`` and ``bench sweep``: the paper's protocols,
a run planned once (``plan``), executed with per-video resumable results, torchrun sharding
and MLflow logging (``engine``)."""
from __future__ import annotations

from bench.runner.engine import TaskReport, execute, run
from bench.runner.plan import RunPlan, plan_keys, plan_run
from bench.protocol import PROTOCOL, TASKS
from bench.runner.settings import RunSettings

__all__ = ["PROTOCOL", "RunPlan", "RunSettings", "TASKS", "TaskReport", "execute", "plan_keys", "plan_run", "run"]
