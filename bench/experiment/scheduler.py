"""What the SLURM scheduler says: its commands present, a request that fits a partition, the state of jobs.

No accounting database is needed: states come from ``squeue --states=all`` (a finished job stays
listed for the cluster's ``MinJobAge``); a job it no longer lists has ended, and the tracking store
says whether its cell is complete.
"""
from __future__ import annotations

import getpass
import shutil
import subprocess
from dataclasses import dataclass
from typing import Iterable, Mapping

from bench.errors import UserError, first_line
from bench.experiment.resources import Resources

#: ``squeue`` states (``%T``) of a job that is waiting to run, and of one that runs
QUEUED = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED", "RESV_DEL_HOLD"})
RUNNING = frozenset({"CONFIGURING", "RUNNING", "COMPLETING", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED"})
TOOLS = ("sbatch", "squeue", "srun", "sinfo")


@dataclass(frozen=True)
class JobState:
    state: str  # squeue's, e.g. PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT
    reason: str  # why it waits or ended (squeue's %r), e.g. Dependency, Resources, None

    @property
    def active(self) -> bool:
        return self.state in QUEUED or self.state in RUNNING


def require_slurm() -> None:
    """One line when this machine cannot submit to SLURM."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise UserError(f"--executor slurm: '{missing[0]}' not found: run bench sweep where SLURM's commands are "
                        "(a login node; tools/slurm-up starts a one-machine cluster)")


def _run(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UserError(f"{args[0]} failed: {first_line(exc)}") from None
    if done.returncode != 0:
        raise UserError(f"{args[0]} failed: {first_line(Exception(done.stderr.strip() or done.stdout))}")
    return done.stdout


def check_fits(resources: Mapping[str, Resources]) -> None:
    """Each kind's request against the partitions SLURM has (name, nodes, CPUs and memory per node):
    a request no node could run is one line now, not a job that waits forever."""
    nodes: dict[str, list[tuple[int, int]]] = {}
    default = None
    for line in _run(["sinfo", "-h", "-N", "-o", "%P|%c|%m"]).splitlines():
        name, cpus, memory = (line.split("|") + ["", "", ""])[:3]
        if name.endswith("*"):
            name = default = name[:-1]
        nodes.setdefault(name, []).append((_number(cpus), _number(memory)))
    for kind, request in resources.items():
        name = request.partition or default
        if name not in nodes:
            raise UserError(f"{kind} resources: no SLURM partition '{name}' (partitions: {', '.join(sorted(nodes))})")
        cpus = max(c for c, _ in nodes[name])
        memory = max(m for _, m in nodes[name])
        if request.nodes > len(nodes[name]):
            raise UserError(f"{kind} resources: {request.nodes} nodes asked, partition '{name}' has {len(nodes[name])}")
        if request.tasks * request.cpus_per_task > cpus:
            raise UserError(f"{kind} resources: {request.tasks} task(s) x {request.cpus_per_task} CPUs asked, the "
                            f"largest node of partition '{name}' has {cpus} CPUs")
        if request.mem_gb and request.mem_gb * 1024 > memory:
            raise UserError(f"{kind} resources: {request.mem_gb} GB asked, the largest node of partition '{name}' "
                            f"has {memory / 1024:.1f} GB")


def _number(text: str) -> int:
    digits = "".join(ch for ch in text if ch.isdigit())
    return int(digits) if digits else 0


def job_states(job_ids: Iterable[str]) -> dict[str, JobState]:
    """The state of each of ``job_ids`` that SLURM still lists (this user's jobs, array tasks one by one)."""
    wanted = set(job_ids)
    if not wanted:
        return {}
    out = _run(["squeue", "-h", "-r", "--states=all", "-u", getpass.getuser(), "-o", "%i|%T|%r"])
    states = {}
    for line in out.splitlines():
        job_id, state, reason = (line.strip().split("|") + ["", ""])[:3]
        if job_id in wanted:
            states[job_id] = JobState(state, reason)
    return states
