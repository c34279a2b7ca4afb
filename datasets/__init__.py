"""Dataset registry: the paper's eight benchmarks (FOMM on-disk layout) and ``synthetic``.

Outside packages register :class:`DatasetSpec` objects in the ``motionbench.datasets``
entry-point group.
"""
from __future__ import annotations

from bench.registry import Registry

DATASETS: Registry = Registry("dataset", "motionbench.datasets")

__all__ = ["DATASETS"]
