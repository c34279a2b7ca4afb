"""The state of every cell of an experiment, from the tracking store, the files and the scheduler.

========== ==================================================================================
state      meaning
========== ==================================================================================
complete   a complete MLflow run of the cell's key (training: and its checkpoint on disk)
queued     its SLURM job waits (for resources, or for its training job: ``afterok``)
running    its SLURM job runs
failed     its SLURM job ended and the cell is not complete (the log says why)
interrupted a training cell with a ``last.pt`` and no job: the next sweep resumes it
pending    not started
waiting    an evaluation cell whose training cell is not complete (and that has no job)
error      the cell cannot run as written (e.g. a missing checkpoint); not submitted
========== ==================================================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from bench.experiment.cells import train_state
from bench.experiment.load import Experiment
from bench.experiment.records import JobRecord, Records
from bench.experiment.scheduler import QUEUED, JobState
from bench.runner.sweep import Job, job_status

#: states in which a cell is neither done nor to be submitted again
ACTIVE = ("queued", "running")


@dataclass
class CellStatus:
    """One cell's state (``detail``: the scheduler's state or reason, an error, what resumes)."""

    kind: str  # train or eval
    label: str
    state: str
    detail: str = ""
    record: JobRecord | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def line(self, width: int = 48) -> str:
        job = f"job {self.record.job_id}" if self.record else ""
        log = self.record.stderr if self.record else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"  {self.state:<11} {self.label:<{width}} {job:<14} {log}{detail}".rstrip()


def _scheduled(record: JobRecord | None, states: Mapping[str, JobState]) -> tuple[str, str] | None:
    """``(state, detail)`` from the cell's job: queued / running, failed once it ended; None without a job."""
    if record is None:
        return None
    job = states.get(record.job_id)
    if job is not None and job.active:
        reason = "" if job.reason in ("None", "") else job.reason
        return ("queued" if job.state in QUEUED else "running"), reason
    return "failed", job.state if job is not None else "ended"


def train_statuses(experiment: Experiment, records: Records, states: Mapping[str, JobState]) -> list[CellStatus]:
    out = []
    for cell in experiment.train:
        record = records.get(cell.label)
        local = train_state(cell)
        state, detail = (local, "") if local == "complete" else _scheduled(record, states) or (local, "")
        if local == "interrupted" and state != "running":
            detail = "; ".join(filter(None, (detail, f"resumes from {cell.checkpoint}")))
        out.append(CellStatus("train", cell.label, state, detail, record))
    return out


def eval_status(job: Job, training: CellStatus | None, record: JobRecord | None,
                states: Mapping[str, JobState]) -> CellStatus:
    scheduled = _scheduled(record, states)
    if training is not None and training.state != "complete":
        if scheduled is not None and scheduled[0] in ACTIVE:
            return CellStatus("eval", job.label, *scheduled, record)
        return CellStatus("eval", job.label, "waiting", f"for its training: {training.state}", record)
    status, _ = job_status(job)
    if status.startswith("error"):
        return CellStatus("eval", job.label, "error", status[len("error: "):], record)
    if status == "complete" or scheduled is None:
        return CellStatus("eval", job.label, status, "", record)
    return CellStatus("eval", job.label, *scheduled, record)


def experiment_statuses(experiment: Experiment, states: Mapping[str, JobState] | None = None) -> list[CellStatus]:
    """Every cell's status: the training cells (in order), then the evaluation cells."""
    records = Records(experiment.jobs_dir)
    trains = train_statuses(experiment, records, states or {})
    by_label = {status.label: status for status in trains}
    evals = [eval_status(job, by_label.get(job.train) if job.train else None, records.get(job.label), states or {})
             for job in experiment.evals]
    return trains + evals


def recorded_ids(experiment: Experiment) -> list[str]:
    """The job ids of every cell's last submission."""
    records = Records(experiment.jobs_dir)
    labels = [cell.label for cell in experiment.train] + [job.label for job in experiment.evals]
    return [record.job_id for record in map(records.get, labels) if record is not None]
