"""What a SLURM job of a cell asks for: partition, nodes, GPUs, CPUs, memory and time.

From the experiment file (``resources:``, with ``train:`` / ``eval:`` sections over the common
keys) and from ``bench sweep`` flags, which win over both::

    resources:
      partition: gpu
      time_min: 240
      train: {nodes: 1, gpus_per_node: 4, cpus_per_task: 8, mem_gb: 64}
      eval: {gpus_per_node: 1, cpus_per_task: 8, mem_gb: 32, time_min: 120}

A job runs one task per GPU (``gpus_per_node`` tasks on each of ``nodes`` nodes), joined into one
DistributedDataParallel process group as under ``torchrun``; without GPUs ``tasks_per_node``
(default 1) CPU processes do the same over gloo.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from bench.config import from_dict
from bench.errors import ConfigError, UserError

KINDS = ("train", "eval")
#: ``bench sweep`` flags that set a resource (flag -> field)
FLAGS = {"--partition": "partition", "--nodes": "nodes", "--gpus-per-node": "gpus_per_node",
         "--tasks-per-node": "tasks_per_node", "--cpus-per-task": "cpus_per_task", "--mem-gb": "mem_gb",
         "--time-min": "time_min", "--account": "account", "--qos": "qos", "--constraint": "constraint"}


@dataclass(frozen=True)
class Resources:
    """One job's request (``sbatch`` options); ``time_min`` is its time limit."""

    partition: str | None = None
    nodes: int = 1
    gpus_per_node: int = 0
    tasks_per_node: int | None = None
    cpus_per_task: int = 1
    mem_gb: float | None = None
    time_min: int = 60
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None

    @property
    def tasks(self) -> int:
        """Processes per node: one per GPU, else ``tasks_per_node`` (default 1)."""
        return self.gpus_per_node or self.tasks_per_node or 1

    @property
    def world_size(self) -> int:
        return self.nodes * self.tasks

    def validate(self, where: str) -> "Resources":
        positive = {"nodes": self.nodes, "cpus_per_task": self.cpus_per_task, "time_min": self.time_min,
                    "tasks_per_node": self.tasks_per_node or 1, "mem_gb": self.mem_gb or 1}
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{where}: {name} must be > 0, got {value}")
        if self.gpus_per_node < 0:
            raise ConfigError(f"{where}: gpus_per_node must be >= 0, got {self.gpus_per_node}")
        if self.gpus_per_node and self.tasks_per_node not in (None, self.gpus_per_node):
            raise ConfigError(f"{where}: one task per GPU: tasks_per_node {self.tasks_per_node} differs from "
                              f"gpus_per_node {self.gpus_per_node} (leave tasks_per_node out)")
        if self.partition is not None and not self.partition.strip():
            raise ConfigError(f"{where}: partition must be a name")
        return self

    def submitit_parameters(self) -> dict[str, Any]:
        """The request as ``submitit.SlurmExecutor.update_parameters`` keywords."""
        params: dict[str, Any] = {"nodes": self.nodes, "ntasks_per_node": self.tasks,
                                  "cpus_per_task": self.cpus_per_task, "time": self.time_min}
        optional = {"partition": self.partition, "mem": f"{int(self.mem_gb * 1024)}MB" if self.mem_gb else None,
                    "gpus_per_node": self.gpus_per_node or None, "account": self.account, "qos": self.qos,
                    "constraint": self.constraint}
        params.update({k: v for k, v in optional.items() if v is not None})
        return params


def resources_by_kind(section: Any, flags: Mapping[str, Any] | None, where: str) -> dict[str, Resources]:
    """``{'train': Resources, 'eval': Resources}`` from an experiment's ``resources`` mapping and the flags
    that were given (field -> value, None left out), which win over the file."""
    section = section or {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where}: 'resources' must be a mapping (keys: {', '.join(_fields())}, train, eval)")
    common = {k: v for k, v in section.items() if k not in KINDS}
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    out = {}
    for kind in KINDS:
        own = section.get(kind) or {}
        if not isinstance(own, Mapping):
            raise ConfigError(f"{where}: 'resources.{kind}' must be a mapping of resources")
        values = {**common, **own, **given}
        try:
            out[kind] = from_dict(Resources, values, prefix="resources").validate(f"{where}, {kind} resources")
        except UserError as exc:
            raise ConfigError(f"{where}: {exc}" if not str(exc).startswith(where) else str(exc)) from None
    return out


def _fields() -> list[str]:
    return [f.name for f in dataclasses.fields(Resources)]
