"""Which registered metrics belong to a protocol task, by default or on request (read from ``info.tasks``)."""
from __future__ import annotations

from bench.errors import UserError
from bench.metrics.registry import METRICS
from bench.protocol import TASKS


def allowed_metrics(task: str) -> list[str]:
    """Registered metrics that declare ``task``, in registration (column) order."""
    return [n for n in METRICS.ordered() if task in METRICS.get(n).info.tasks]


def default_metrics(task: str) -> list[str]:
    """The task's default set (the paper's columns, plus plugins that declare themselves default)."""
    return [n for n in allowed_metrics(task) if METRICS.get(n).info.tasks[task].default]


def task_metrics(task: str, requested: list[str] | None, single_task: bool) -> list[str]:
    """The metrics ``task`` computes: its defaults, or the requested ones that belong to it.

    With ``single_task`` a requested metric that does not belong to ``task`` is an error.
    """
    if requested is None:
        return default_metrics(task)
    allowed = allowed_metrics(task)
    if single_task:
        foreign = [m for m in requested if m not in allowed]
        if foreign:
            raise UserError(f"metric '{foreign[0]}' is not part of the {task} protocol "
                            f"(choose from: {', '.join(allowed)})")
    return [m for m in requested if m in allowed]


def check_requested(requested: list[str] | None, tasks: list[str]) -> None:
    """Every requested metric is registered for some task, and at least one belongs to ``tasks``."""
    if requested is None:
        return
    every = sorted({m for task in TASKS for m in allowed_metrics(task)})
    unknown = [m for m in requested if m not in every]
    if unknown:
        raise UserError(f"unknown metric '{unknown[0]}'; choose from: {', '.join(every)}")
    if len(set(requested)) != len(requested):
        raise UserError(f"--metrics names a metric twice: {','.join(requested)}")
    if not any(task_metrics(t, requested, len(tasks) == 1) for t in tasks):
        raise UserError("none of the requested --metrics belongs to the chosen task(s)")
