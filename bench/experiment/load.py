"""An experiment file as cells: its training cells, its evaluation cells (the grid of
:mod:`bench.runner.sweep`, fed by the training cells' checkpoints) and the SLURM resources of each kind."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from bench.experiment.resources import Resources, resources_by_kind
from bench.experiment.training import TrainCell, Training
from bench.runner.sweep import Job, load_sweep, names_of, read_experiment


@dataclass
class Experiment:
    """Everything ``bench sweep FILE`` runs, in dependency order: ``train`` (a stage after the one before),
    then ``evals`` (each after its training cell, ``Job.train``)."""

    path: Path
    name: str
    train: list[TrainCell]
    evals: list[Job]
    resources: dict[str, Resources]
    jobs_dir: Path

    def train_cell(self, label: str | None) -> TrainCell | None:
        return next((cell for cell in self.train if cell.label == label), None) if label else None


def load_experiment(path: str | Path, resource_flags: Mapping[str, Any] | None = None) -> Experiment:
    """Read ``path``; ``resource_flags`` (resource field -> value) win over its ``resources`` section."""
    data, name = read_experiment(path)
    where = str(path)
    training = None
    if data.get("train") is not None:
        training = Training(data["train"], name, names_of(data["methods"], "methods", where), where)
    evals = load_sweep(path, training.links if training else None)
    resources = resources_by_kind(data.get("resources"), resource_flags, where)
    jobs_dir = Path(str(data.get("jobs_dir") or Path("runs") / name / "jobs"))
    return Experiment(Path(path), name, list(training.cells.values()) if training else [], evals, resources, jobs_dir)
