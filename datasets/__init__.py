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

def _dataset_spec(name: str, obj: object) -> DatasetSpec:
    """A registered dataset is a :class:`DatasetSpec` named ``name`` (or a callable returning one)."""
    spec = obj if isinstance(obj, DatasetSpec) else obj() if callable(obj) else None
    if not isinstance(spec, DatasetSpec):
        raise TypeError(f"dataset '{name}' must be a DatasetSpec or return one, got {obj!r}")
    if spec.name != name:
        raise ValueError(f"dataset registered as '{name}' declares name '{spec.name}'")
    return spec


DATASETS: Registry[DatasetSpec] = Registry("dataset", "motionbench.datasets", adapt=_dataset_spec)

for _spec in (*PAPER_DATASETS, SYNTHETIC):
    DATASETS.register(_spec.name, _spec)


def get_dataset(name: str) -> DatasetSpec:
    """The spec registered as ``name``; an unknown name raises ``UserError`` listing the choices."""
    return DATASETS.get(name)


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
                        f"default {spec.default_root} does not exist; bench datasets prepare makes one from raw "
                        "videos)")
    if not Path(root).is_dir():
        raise DataError(f"dataset root not found: {root}")
    return Path(root)


__all__ = ["DATASETS", "DatasetSpec", "SYNTHETIC", "ensure_synthetic", "get_dataset", "resolve_root"]
