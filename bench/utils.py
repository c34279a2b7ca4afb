"""Small runtime helpers: device choice and seeding."""
from __future__ import annotations

import random
from typing import TYPE_CHECKING

from bench.errors import UserError

if TYPE_CHECKING:  # torch is imported by the verbs that compute, not by the command line itself
    import torch


def pick_device(name: str | None = None) -> torch.device:
    """``name`` if given (``cpu``, ``cuda``, ``cuda:N``), else CUDA when available, else CPU; a device this
    machine does not have is a one-line error."""
    import torch

    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device '{name}'; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {name}: CUDA is not available on this machine (torch {torch.__version__})")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        raise UserError(f"--device {name}: motionbench runs on cpu or cuda")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


#: glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD = -1, -2


def keep_freed_memory() -> bool:
    """Ask glibc's allocator to keep freed memory for reuse instead of returning it to the kernel.

    Inference allocates and frees the same large activation buffers for every batch; by default
    glibc trims them back to the kernel and the next batch page-faults them in again, which cost
    about a third of ``bench run``'s CPU time in the kernel on a 2-core machine (measured: system
    time 11.7 s -> 0.7 s, wall 54 s -> 33 s). Returns whether the setting was applied (Linux/glibc).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)) and bool(mallopt(_M_TOP_PAD, 1 << 30))
