"""Process-group plumbing for ``torchrun``, shared by training and evaluation.

``torchrun --nproc_per_node K`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``
and ``MASTER_PORT``; without them everything runs as a single process. The backend is NCCL on
CUDA and gloo on the CPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence, TypeVar

import torch
import torch.distributed as dist

from bench.errors import UserError
from bench.utils import pick_device

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job and which device it drives."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share of ``items``: ``rank, rank + world, ...`` (all of them when alone)."""
        return list(items[self.rank::self.world_size])


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise UserError(f"environment variable {name}={raw!r} is not an integer") from None


def init_distributed(device: str | None = None) -> DistContext:
    """Join the process group described by the environment (or run alone when there is none)."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistContext(0, 1, 0, pick_device(device))
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    kind = pick_device(device).type
    if kind == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise UserError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA device(s) here")
        torch.cuda.set_device(local_rank)
        target, backend = torch.device("cuda", local_rank), "nccl"
    else:
        target, backend = torch.device(kind), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world)
    return DistContext(rank, world, local_rank, target)


def is_joined() -> bool:
    """Whether this process is already in a process group (e.g. a sweep's, which its runs then share)."""
    return dist.is_available() and dist.is_initialized()


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def broadcast_object(obj: Any, ctx: DistContext) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not ctx.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def mean_over_ranks(values: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """Average scalars over ranks (same keys on every rank)."""
    if not ctx.enabled or not values:
        return values
    keys = sorted(values)
    backend_device = ctx.device if ctx.device.type == "cuda" else torch.device("cpu")
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=backend_device)
    dist.all_reduce(tensor)
    return dict(zip(keys, (tensor / ctx.world_size).tolist()))


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True on every rank when ``flag`` is true on at least one (e.g. an interrupt)."""
    if not ctx.enabled:
        return flag
    backend_device = ctx.device if ctx.device.type == "cuda" else torch.device("cpu")
    tensor = torch.tensor([1 if flag else 0], dtype=torch.int32, device=backend_device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())
