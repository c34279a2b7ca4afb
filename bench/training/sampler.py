"""The training sampler: a seeded, resumable ``DistributedSampler``."""
from __future__ import annotations

import itertools
from typing import Iterator

from torch.utils.data import Dataset, DistributedSampler, Sampler

from bench.distributed import DistContext


class EpochSampler(Sampler[int]):
    """``DistributedSampler`` (shuffled per epoch from ``seed``) that can start part-way into an epoch.

    Used in single-process runs too (one replica), so the order of samples depends only on
    (seed, epoch) and a resumed run continues with exactly the samples it had not seen.
    """

    def __init__(self, dataset: Dataset, ctx: DistContext, seed: int = 0) -> None:
        self.inner = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                        seed=seed, drop_last=False)
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Select ``epoch``'s order and drop its first ``skip`` samples (already trained on)."""
        self.inner.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.inner), self.skip, None)

    def __len__(self) -> int:
        return max(0, len(self.inner) - self.skip)

    @property
    def per_epoch(self) -> int:
        """Samples this rank sees in a whole epoch."""
        return len(self.inner)
