"""Reuse of the real frames' FID statistics between reconstruction runs on the same videos.

In reconstruction the FID's real set is the driving frames of the evaluated videos, the same
for every method and variant; its statistics are cached (``bench.metrics.fid.RealStatsCache``)
under the motionbench cache, keyed by dataset, split, frame size, the exact list of videos
(with the dataset root) and a fingerprint of the Inception weights, so the real frames go
through Inception once per video list and network.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

from bench.datasets.spec import DatasetSpec
from bench.datasets.synthetic import cache_root
from bench.metrics.fid import FID, FrechetStats, RealStatsCache
from bench.runner.items import Item

SPLIT = "test"


def stats_cache() -> RealStatsCache:
    return RealStatsCache(cache_root() / "fid")


def network_fingerprint(metric: FID) -> str:
    """Short hash of the feature network's weights (statistics of other weights never mix)."""
    digest = hashlib.sha256()
    for name, tensor in metric.features.state_dict().items():
        digest.update(name.encode("utf-8"))
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def stats_key(metric: FID, spec: DatasetSpec, root: Path, items: Sequence[Item]) -> tuple[str, str, tuple[int, int], str]:
    """(dataset, split, resolution, frame selection) of the reconstruction real set of ``items``."""
    listing = "\n".join([str(Path(root).resolve()), *sorted(item.name for item in items)])
    digest = hashlib.sha256(listing.encode("utf-8")).hexdigest()[:16]
    selection = (f"reconstruction: every frame of {len(items)} video(s), list {digest}, "
                 f"network {network_fingerprint(metric)}")
    return spec.name, SPLIT, tuple(spec.frame_size), selection


def load(metric: FID, spec: DatasetSpec, root: Path, items: Sequence[Item]) -> FrechetStats | None:
    return stats_cache().load(*stats_key(metric, spec, root, items))


def save_from_states(metric: FID, states: Sequence[dict[str, Any]], spec: DatasetSpec, root: Path,
                     items: Sequence[Item]) -> Path:
    """Statistics of the real features in ``states`` (every item's), saved for later runs."""
    metric.reset()
    for state in states:
        metric.merge(state)
    return stats_cache().save(metric.real_stats(), *stats_key(metric, spec, root, items))
