"""The interface every metric plugin implements."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch


@dataclass
class MetricResult:
    """Dataset value plus per-video values; ``value`` is None with ``na_reason`` when not applicable."""

    name: str
    value: float | None
    per_video: dict[str, float] = field(default_factory=dict)
    na_reason: str | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.value is not None and math.isfinite(self.value)


class Metric:
    """Accumulates over batches of one or more videos, then computes.

    ``update(generated, real, video=..., source=...)`` takes ``B x 3 x H x W`` floats in
    [0, 1] (all frames of the batch belong to ``video``); ``source`` is the source image
    ``1 x 3 x H x W`` for identity metrics. ``compute()`` returns a :class:`MetricResult`.
    """

    name: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = False
    #: domains it applies to; None means every domain
    domains: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)

    def update(self, generated: torch.Tensor, real: torch.Tensor, video: str = "", source: torch.Tensor | None = None) -> None:
        raise NotImplementedError

    def compute(self) -> MetricResult:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """Picklable accumulated state (NumPy arrays, floats), keyed by video where it is per video.

        The runner saves it as each video finishes (resume) and gathers it across
        processes (distributed); :meth:`merge` adds such a state back.
        """
        raise NotImplementedError

    def merge(self, state: dict[str, Any]) -> None:
        """Add the state of another instance (another process or an interrupted run)."""
        raise NotImplementedError
