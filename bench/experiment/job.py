"""Inside a SLURM job: the callable that submitit runs for one cell (imports submitit: only used there).

Each task of the job joins the cell's process group the way ``torchrun`` would have made it (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` / ``MASTER_PORT`` from SLURM's variables, through
submitit's :class:`~submitit.helpers.TorchDistributedEnvironment`; all of a node's GPUs stay visible and
``LOCAL_RANK`` picks one, as under torchrun), and uses the CPUs the job was given.

Time limits and preemption: SLURM signals the job (``USR2``, ``signal_delay_s`` before the limit, and
on preemption), and submitit's handler calls :meth:`CellJob.checkpoint`, which resubmits the same cell,
and requeues the job. A training cell first stops at the end of its step and saves ``last.pt`` (the
trainer's own SIGTERM path, on every rank at the same step), and only then lets submitit requeue:
the requeued job resumes from there and ends with the weights of an uninterrupted run. An evaluation
cell requeues at once (finished videos are kept in its ``state/`` folder).
"""
from __future__ import annotations

import os
import signal
import sys
from types import FrameType
from typing import Any, Callable

import submitit
import torch

from bench.distributed import init_distributed, shutdown
from bench.experiment.cells import Cell, run_cell
from bench.training.trainer import TrainingInterrupted

Handler = Callable[[int, FrameType | None], Any]


class DeferredRequeue:
    """Routes the requeue signal to the trainer while it trains (stop after the step, save), and to
    submitit's handler (checkpoint, requeue, exit) once the checkpoint is saved or when nothing trains."""

    def __init__(self) -> None:
        self.requeue_signal = submitit.JobEnvironment._usr_sig()
        self.submitit_handler: Handler = signal.getsignal(self.requeue_signal)
        self.idle_sigterm = signal.getsignal(signal.SIGTERM)
        self.pending = False

    def install(self) -> "DeferredRequeue":
        signal.signal(self.requeue_signal, self._on_signal)
        return self

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        trainer_stop = signal.getsignal(signal.SIGTERM)
        if trainer_stop is not self.idle_sigterm and callable(trainer_stop):  # the trainer's stop request
            self.pending = True
            trainer_stop(signal.SIGTERM, frame)
        elif callable(self.submitit_handler):
            self.submitit_handler(signum, frame)

    def requeue_if_pending(self) -> None:
        """After the trainer saved: submitit checkpoints and requeues the job (rank 0), every rank exits."""
        if not self.pending:
            return
        if callable(self.submitit_handler):
            self.submitit_handler(self.requeue_signal, None)  # rank 0 does not return from this
        sys.exit(-1)


def _join_job() -> None:
    """The process-group variables of this task, and as many threads as CPUs the job gave each task."""
    submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    if cpus and cpus.isdigit() and int(cpus) > 0:
        torch.set_num_threads(int(cpus))


class CellJob(submitit.helpers.Checkpointable):
    """``CellJob()(cell, experiment, device)``: run one training or evaluation cell in this SLURM job.

    Checkpointable: on a time limit or preemption submitit requeues ``self`` with the same arguments,
    and the cell continues where it stopped (its ``last.pt``, its finished videos)."""

    def __call__(self, cell: Cell, experiment: str, device: str | None) -> str:
        _join_job()
        deferral = DeferredRequeue().install()
        ctx = init_distributed(device)
        try:
            return run_cell(cell, experiment, device, ctx)
        except TrainingInterrupted:
            deferral.requeue_if_pending()
            raise
        finally:
            shutdown(ctx)
