"""Reuse of the real set's summary of distribution metrics (FID, KID, FVD) between reconstruction runs.

In reconstruction the real set of a distribution metric is the driving frames (FID, KID) or
driving clips (FVD) of the evaluated videos, the same for every method and variant; its summary
is cached (``bench.metrics.fid.RealStatsCache``) under ``<motionbench cache>/<cache_name>``, keyed
by dataset, split, frame size, the exact list of videos (with the dataset root), a fingerprint of
the feature network's weights and the metric's convention, so the real frames go through the
network once per video list, network and convention.

A metric takes part by declaring what it caches (see
:class:`bench.metrics.fid.InceptionDistribution` and :class:`bench.metrics.fvd.FVD`):
``cache_name`` (the cache folder and file prefix), ``cache_convention()`` (what else changes the
cached numbers: backend / resize convention, clip sampling and its seed), ``real_reference()``
(what is cached: Frechet statistics for FID and FVD, the feature rows for KID), ``features`` (the
network fingerprinted) and ``reference`` (where a cached summary is put back; the metric then
skips the real frames).
"""
from __future__ import annotations

import hashlib
import weakref
from pathlib import Path
from typing import Any, Mapping, Sequence

from bench.datasets.spec import DatasetSpec
from bench.datasets.synthetic import cache_root
from bench.metrics.base import Metric
from bench.metrics.fid import RealStatsCache
from bench.runner.items import Item

SPLIT = "test"


def caches_real(metric: Metric) -> bool:
    """Whether ``metric`` declares a cacheable real-set summary."""
    return all(hasattr(metric, attr) for attr in ("cache_name", "cache_convention", "real_reference", "reference",
                                                  "features"))


def cached_metrics(metrics: Mapping[str, Metric]) -> dict[str, Metric]:
    """The metrics of ``metrics`` whose real summary is cached (by name)."""
    return {name: metric for name, metric in metrics.items() if caches_real(metric)}


def stats_cache(name: str = "fid") -> RealStatsCache:
    return RealStatsCache(cache_root() / name, prefix=name)


#: fingerprint of each (frozen) feature network hashed in this process: FID and KID share one network, and a
#: run reads and writes the cache with the same key
_FINGERPRINTS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def network_fingerprint(metric: Metric) -> str:
    """Short hash of the feature network's weights (summaries of other weights never mix), hashed once per
    network object."""
    network = metric.features
    if network not in _FINGERPRINTS:
        digest = hashlib.sha256()
        for name, tensor in network.state_dict().items():
            digest.update(name.encode("utf-8"))
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        _FINGERPRINTS[network] = digest.hexdigest()[:16]
    return _FINGERPRINTS[network]


def stats_key(metric: Metric, spec: DatasetSpec, root: Path,
              items: Sequence[Item]) -> tuple[str, str, tuple[int, int], str]:
    """(dataset, split, resolution, selection and convention) of the reconstruction real set of ``items``."""
    listing = "\n".join([str(Path(root).resolve()), *sorted(item.name for item in items)])
    digest = hashlib.sha256(listing.encode("utf-8")).hexdigest()[:16]
    selection = (f"reconstruction: {len(items)} video(s), list {digest}, network {network_fingerprint(metric)}; "
                 f"{metric.cache_convention()}")
    return spec.name, SPLIT, tuple(spec.frame_size), selection


def load(metric: Metric, spec: DatasetSpec, root: Path, items: Sequence[Item]) -> Any:
    """The cached real summary of ``metric`` for ``items`` (None when not cached yet)."""
    return stats_cache(metric.cache_name).load(*stats_key(metric, spec, root, items))


def save_from_states(metric: Metric, states: Sequence[dict[str, Any]], spec: DatasetSpec, root: Path,
                     items: Sequence[Item]) -> Path | None:
    """The real summary of ``states`` (every item's), saved for later runs (None: too few real frames to save)."""
    metric.reset()
    for state in states:
        metric.merge(state)
    summary = metric.real_reference()
    if summary is None:
        return None
    return stats_cache(metric.cache_name).save(summary, *stats_key(metric, spec, root, items))


def load_all(metrics: Mapping[str, Metric], spec: DatasetSpec, root: Path, items: Sequence[Item]) -> dict[str, Any]:
    """``{name: cached summary}`` for the cached metrics of ``metrics`` whose summary is on disk."""
    found = {}
    for name, metric in cached_metrics(metrics).items():
        summary = load(metric, spec, root, items)
        if summary is not None:
            found[name] = summary
    return found


def save_all(metrics: Mapping[str, Metric], records: Mapping[str, dict[str, Any]], skip: Sequence[str],
             spec: DatasetSpec, root: Path, items: Sequence[Item]) -> dict[str, Path]:
    """Save the real summary of every cached metric of ``metrics`` not in ``skip`` (those that used a cached
    one) from the items' ``records`` (``record["states"][name]``); returns the files written."""
    written = {}
    for name, metric in cached_metrics(metrics).items():
        if name in skip:
            continue
        path = save_from_states(metric, [record["states"][name] for record in records.values()], spec, root, items)
        if path is not None:
            written[name] = path
    return written
