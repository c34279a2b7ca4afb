"""One cell of an experiment run in this process: a training cell (skipped when complete, resumed from
its ``last.pt`` when interrupted) or an evaluation cell (skipped when its run key is complete). The
local executor calls these one after another; a SLURM job calls one (:mod:`bench.experiment.job`)."""
from __future__ import annotations

import dataclasses
import os
import shlex
from pathlib import Path

from bench import tracking
from bench.distributed import DistContext, broadcast_object
from bench.errors import UserError
from bench.methods.base import MAIN_STAGE
from bench.experiment.training import TrainCell
from bench.runner.sweep import Job, job_status

Cell = TrainCell | Job


def job_tags(experiment: str) -> dict[str, str]:
    """Tags every run of a sweep carries: the experiment and, inside a SLURM job, its id."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    job_id = f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")
    return tracking.tags(experiment=experiment, job_id=job_id)


def train_done(cell: TrainCell) -> bool:
    """A complete MLflow run of the cell's key, and its checkpoint on disk."""
    if not cell.checkpoint.is_file():
        return False
    return bool(tracking.find_runs({"run_key": cell.key, "status": "complete"}, kind="train"))


def train_state(cell: TrainCell) -> str:
    """``complete``, ``interrupted`` (a ``last.pt`` to resume from) or ``pending``."""
    if train_done(cell):
        return "complete"
    return "interrupted" if cell.checkpoint.is_file() else "pending"


def _resume(cell: TrainCell) -> Path | None:
    """The run folder when there is something to continue: the cell's own ``last.pt``, or (a later stage)
    the stage before's."""
    return Path(cell.out) if cell.checkpoint.is_file() or cell.stage != MAIN_STAGE else None


def train_request(cell: TrainCell, device: str | None, tags: dict[str, str]):
    from bench.training import TrainRequest

    return TrainRequest(method=cell.method, dataset=cell.dataset, root=cell.root, config=cell.config,
                        train_config=cell.train_config, overrides=list(cell.overrides), resume=_resume(cell),
                        stage=None if cell.stage == MAIN_STAGE else cell.stage, out=cell.out, device=device,
                        amp=cell.amp, precision=cell.precision, epochs=cell.epochs,
                        tags={**cell.tags(), **tags})


def train_command(cell: TrainCell) -> str:
    """The ``bench train`` command that runs the cell now (with ``--resume`` when it continues)."""
    request = train_request(cell, None, {})
    parts = ["bench", "train", "--method", cell.method, "--dataset", cell.dataset, "--out", cell.out]
    for flag, value in (("--root", cell.root), ("--config", cell.config), ("--train-config", cell.train_config),
                        ("--stage", request.stage), ("--resume", request.resume), ("--epochs", cell.epochs),
                        ("--precision", cell.precision)):
        if value is not None:
            parts += [flag, str(value)]
    for item in cell.overrides:
        parts += ["--set", item]
    return shlex.join(parts + (["--amp"] if cell.amp else []))


def run_train(cell: TrainCell, experiment: str, device: str | None, ctx: DistContext) -> str:
    """Train (or finish training) the cell unless it is complete; ``complete`` or ``ran``."""
    from bench.training import run_training

    if broadcast_object(train_done(cell) if ctx.is_main else None, ctx):
        return "complete"
    run_training(train_request(cell, device, job_tags(experiment)))
    return "ran"


def run_eval(job: Job, experiment: str, device: str | None, ctx: DistContext) -> str:
    """Evaluate the cell's task unless its run key is complete; ``complete`` or ``ran``."""
    from bench.runner import execute, plan_run

    status = broadcast_object(job_status(job)[0] if ctx.is_main else None, ctx)
    if status == "complete":
        return "complete"
    if status.startswith("error"):
        raise UserError(status[len("error: "):])
    settings = dataclasses.replace(job.settings, device=device or job.settings.device)
    plan = plan_run(settings, ctx=ctx)
    for task in plan.tasks:
        task.tags.update({**job_tags(experiment), **tracking.tags(train_seed=job.train_seed)})
    execute(plan)
    return "ran"


def run_cell(cell: Cell, experiment: str, device: str | None, ctx: DistContext) -> str:
    if isinstance(cell, TrainCell):
        return run_train(cell, experiment, device, ctx)
    return run_eval(cell, experiment, device, ctx)
