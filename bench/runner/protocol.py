"""The paper's protocol tasks (Section 4) and the metrics that belong to each.

Which metrics a task computes, and against what, is declared by each metric (``info.tasks``);
this module only names the tasks and the metric that picks the best reference view per video
in the best-of-references protocol, and reads the rest from the metric registry.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.errors import UserError


@dataclass(frozen=True)
class Task:
    """One protocol task: its name, title and best-of-references selection metric (lower is better)."""

    name: str
    title: str
    selection: str


PROTOCOL = {
    "reconstruction": Task("reconstruction", "Video Reconstruction", selection="l1"),
    "animation": Task("animation", "Image Animation", selection="fid"),
}
TASKS = tuple(PROTOCOL)


def allowed_metrics(task: str) -> list[str]:
    """Registered metrics that declare ``task``, in registration (column) order."""
    from bench.metrics import METRICS

    return [n for n in METRICS.ordered() if task in METRICS.get(n).info.tasks]


def default_metrics(task: str) -> list[str]:
    """The task's default set (the paper's columns, plus plugins that declare themselves default)."""
    from bench.metrics import METRICS

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
