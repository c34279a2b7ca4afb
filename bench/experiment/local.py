"""``bench sweep --executor local``: the cells one after another in this process (or in every process of
a ``torchrun``, which then share each cell's work): training cells first, each evaluation cell after
its training. A failing cell is reported and the others go on (the cells of a failed training are
left out, saying so)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from bench.distributed import broadcast_object, init_distributed, shutdown
from bench.errors import UserError
from bench.experiment.cells import Cell, run_cell, train_command, train_state
from bench.experiment.load import Experiment
from bench.experiment.training import TrainCell
from bench.runner.settings import command_line
from bench.runner.sweep import job_status


@dataclass
class Outcome:
    """What a sweep did: counts of cells complete before, run now and still to run (dry run); failures (for a
    dry run: the cells that cannot run, e.g. a missing checkpoint that no training cell of the file writes)."""

    complete: int = 0
    ran: int = 0
    pending: int = 0
    failures: list[str] = field(default_factory=list)


def _state(cell: Cell, experiment: Experiment) -> str:
    """``complete``, ``pending``, ``interrupted``, ``waiting`` (for its training) or ``error: <reason>``."""
    if isinstance(cell, TrainCell):
        return train_state(cell)
    training = experiment.train_cell(cell.train)
    if training is not None and train_state(training) != "complete":
        return "waiting"
    return job_status(cell)[0]


def _command(cell: Cell) -> str:
    return train_command(cell) if isinstance(cell, TrainCell) else command_line(cell.settings)


def run_local(experiment: Experiment, device: str | None, dry_run: bool, say: Callable[[str], None]) -> Outcome:
    ctx = init_distributed(device)
    outcome = Outcome()
    failed: set[str] = set()  # training cells that failed: what needs them is left out
    cells: list[Cell] = [*experiment.train, *experiment.evals]
    try:
        for number, cell in enumerate(cells, start=1):
            head = f"[{number}/{len(cells)}] {cell.label}"
            needs = cell.previous if isinstance(cell, TrainCell) else cell.train
            if needs in failed:
                failed.add(cell.label)
                outcome.failures.append(f"{cell.label}: not run, its training {needs} failed")
                say(f"{head}: not run (its training failed)")
                continue
            state = broadcast_object(_state(cell, experiment) if ctx.is_main else None, ctx)
            if state == "complete":
                outcome.complete += 1
                say(f"{head}: complete, skipped")
            elif state.startswith("error"):  # cannot run (a dry run counts it too)
                outcome.failures.append(f"{cell.label}: {state[len('error: '):]}")
                say(f"{head}: {state}" + (f"\n    {_command(cell)}" if dry_run else ""))
            elif dry_run:
                outcome.pending += 1
                say(f"{head}: {state}\n    {_command(cell)}")
            else:
                say(f"{head}: {'resuming' if state == 'interrupted' else 'running'} -> "
                    f"{cell.out if isinstance(cell, TrainCell) else cell.settings.out}")
                try:
                    run_cell(cell, experiment.name, device, ctx)
                    outcome.ran += 1
                except UserError as exc:
                    failed.add(cell.label)
                    outcome.failures.append(f"{cell.label}: {exc}")
                    say(f"{head}: failed: {exc}")
    finally:
        shutdown(ctx)
    return outcome
