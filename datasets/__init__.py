"""Dataset registry: the paper's eight benchmarks (FOMM on-disk layout) and ``synthetic``.

Outside packages register :class:`DatasetSpec` objects (or zero-argument callables returning
one) in the ``motionbench.datasets`` entry-point group. Readers live in
``bench.datasets.video_io``, sampling in ``bench.datasets.sampling``, checks in
``bench.datasets.verify`` and the generated set in ``bench.datasets.synthetic``.
"""
from __future__ import annotations

from pathlib import Path

from bench.datasets.spec import PAPER_DATASETS, DatasetSpec
from bench.datasets.synthetic import SYNTHETIC, ensure_synthetic
from bench.errors import DataError
from bench.registry import Registry

DATASETS: Registry = Registry("dataset", "motionbench.datasets")

for _spec in (*PAPER_DATASETS, SYNTHETIC):
    DATASETS.register(_spec.name, _spec)


def get_dataset(name: str) -> DatasetSpec:
    """The spec registered as ``name``; an unknown name raises ``UserError`` listing the choices."""
    item = DATASETS.get(name)
    spec = item if isinstance(item, DatasetSpec) else item()
    if not isinstance(spec, DatasetSpec):
        raise DataError(f"dataset plugin '{name}' does not provide a DatasetSpec")
    return spec


def resolve_root(spec: DatasetSpec, root: str | Path | None = None) -> Path:
    """The dataset root to read: ``synthetic`` is generated on demand (in the cache when ``root``
    is None); other datasets need an existing ``root`` or their ``default_root`` relative to the
    working directory."""
    if spec.name == SYNTHETIC.name:
        return ensure_synthetic(root)
    if root is None:
        if Path(spec.default_root).is_dir():
            return Path(spec.default_root)
        raise DataError(f"no root for dataset '{spec.name}': pass --root DIR (FOMM layout DIR/train, DIR/test; "
                        f"default {spec.default_root} does not exist)")
    if not Path(root).is_dir():
        raise DataError(f"dataset root not found: {root}")
    return Path(root)


__all__ = ["DATASETS", "DatasetSpec", "SYNTHETIC", "ensure_synthetic", "get_dataset", "resolve_root"]
