"""``bench sweep --executor slurm``: every cell that is not complete, queued or running becomes a SLURM job
(through submitit), alike cells one job array; evaluation jobs start ``afterok`` their training job.

Submission happens under the experiment's lock (:class:`~bench.experiment.records.Records`), after the
cells' states are read (:mod:`bench.experiment.status`), so a cell is never submitted twice. Jobs
inherit the environment of ``bench sweep`` (``MLFLOW_TRACKING_URI``, the Python and its packages) and
its working directory; ``runs/<name>/jobs/logs`` holds their logs.
"""
from __future__ import annotations

import contextlib
import io
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

from bench.errors import UserError, first_line
from bench.experiment.cells import Cell
from bench.experiment.load import Experiment
from bench.experiment.records import JobRecord, Records, now
from bench.experiment.resources import Resources
from bench.experiment.scheduler import job_states
from bench.experiment.status import CellStatus, experiment_statuses, recorded_ids

#: states of a cell that a sweep submits
SUBMIT = ("pending", "interrupted", "failed", "waiting")


def require_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise UserError("--executor slurm needs submitit: pip install -e \".[cluster]\"") from None
    return submitit


@dataclass
class Submission:
    """What one ``bench sweep --executor slurm`` call submitted: cell label -> job id, and the arrays."""

    jobs: dict[str, str] = field(default_factory=dict)
    groups: list[list[str]] = field(default_factory=list)


def _executor(submitit: Any, experiment: Experiment, kind: str, resources: Resources, dependency: str | None) -> Any:
    executor = submitit.SlurmExecutor(folder=experiment.jobs_dir / "logs", max_num_timeout=3)
    executor.update_parameters(job_name=f"mb-{experiment.name}-{kind}", dependency=dependency,
                               signal_delay_s=max(10, min(90, resources.time_min * 15)),
                               additional_parameters={"kill-on-invalid-dep": "yes"} if dependency else {},
                               **resources.submitit_parameters())
    return executor


def _submit(submitit: Any, executor: Any, cells: list[Cell], experiment: Experiment, device: str | None) -> list[Any]:
    """One job, or one array of ``len(cells)`` jobs; sbatch's refusal is one line."""
    from bench.experiment.job import CellJob

    logging.getLogger("submitit").setLevel(logging.ERROR)
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):
            if len(cells) == 1:
                return [executor.submit(CellJob(), cells[0], experiment.name, device)]
            with executor.batch():
                jobs = [executor.submit(CellJob(), cell, experiment.name, device) for cell in cells]
            return jobs
    except (submitit.core.utils.FailedJobError, OSError) as exc:
        raise UserError(f"sbatch refused the jobs of {cells[0].label}: {first_line(exc)}") from None


def _group_and_submit(submitit: Any, experiment: Experiment, kind: str, wanted: list[tuple[Cell, str | None]],
                      device: str | None, submission: Submission) -> None:
    """Cells with the same dependency (their kind's resources are the same) go in one array."""
    groups: dict[str | None, list[Cell]] = defaultdict(list)
    for cell, dependency in wanted:
        groups[dependency].append(cell)
    records = Records(experiment.jobs_dir)
    for dependency, cells in groups.items():
        resources = experiment.resources[kind]
        jobs = _submit(submitit, _executor(submitit, experiment, kind, resources, dependency), cells, experiment,
                       device)
        for cell, job in zip(cells, jobs):
            paths = job.paths
            records.put(cell.label, JobRecord(str(job.job_id), str(paths.stdout), str(paths.stderr), now()))
            submission.jobs[cell.label] = str(job.job_id)
        submission.groups.append([str(job.job_id) for job in jobs])


def _dependency(label: str | None, submitted: dict[str, str], statuses: dict[str, CellStatus]) -> str | None:
    """``afterok:<job>`` of the cell ``label`` runs after: its job of this call, or the one queued or running."""
    if label is None:
        return None
    if label in submitted:
        return f"afterok:{submitted[label]}"
    status = statuses.get(label)
    if status is not None and status.active and status.record is not None:
        return f"afterok:{status.record.job_id}"
    return None


def _stage_levels(experiment: Experiment) -> list[list[Cell]]:
    """The training cells by their place in a chain of stages (0: main stages, 1: the stage after, ...)."""
    depth: dict[str, int] = {}
    levels: dict[int, list[Cell]] = defaultdict(list)
    for cell in experiment.train:  # a stage comes after the one before in this list
        depth[cell.label] = 0 if cell.previous is None else depth[cell.previous] + 1
        levels[depth[cell.label]].append(cell)
    return [levels[i] for i in sorted(levels)]


def submit_experiment(experiment: Experiment, device: str | None) -> tuple[Submission, list[CellStatus]]:
    """Submit every cell to run, in dependency order; the statuses read before (under the lock)."""
    submitit = require_submitit()
    submission = Submission()
    with Records(experiment.jobs_dir).lock():
        statuses = {s.label: s for s in experiment_statuses(experiment, job_states(recorded_ids(experiment)))}
        for level in _stage_levels(experiment):  # main stages first, each later stage after the one before
            wanted = [(cell, _dependency(cell.previous, submission.jobs, statuses)) for cell in level
                      if statuses[cell.label].state in SUBMIT]
            _group_and_submit(submitit, experiment, "train", wanted, device, submission)
        wanted = [(job, _dependency(job.train, submission.jobs, statuses)) for job in experiment.evals
                  if statuses[job.label].state in SUBMIT]
        _group_and_submit(submitit, experiment, "eval", wanted, device, submission)
    return submission, list(statuses.values())


def wait_for(job_ids: list[str], say: Callable[[str], None], poll_s: float = 5.0) -> None:
    """Until none of ``job_ids`` is queued or running; a line whenever the counts change."""
    last = None
    while True:
        states = job_states(job_ids)
        active = [s for s in states.values() if s.active]
        counts = (sum(s.state == "PENDING" for s in active), len(active))
        if counts != last:
            say(f"  {time.strftime('%H:%M:%S')} {counts[1] - counts[0]} running, {counts[0]} queued, "
                f"{len(job_ids) - counts[1]} ended")
            last = counts
        if not active:
            return
        time.sleep(poll_s)
