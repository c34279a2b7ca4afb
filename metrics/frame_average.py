"""Frame-wise metrics: one score per generated frame, averaged per video and over the dataset.

State (declared once): per-video ``total`` and ``count`` of the frame scores, so instances that
saw different videos merge exactly. A video's value is the mean over its scored frames; the
dataset value is the mean over videos.
"""
from __future__ import annotations

import numpy as np
import torch

from bench.metrics.base import Metric, MetricResult


def frame_means(totals: dict[str, float], counts: dict[str, int]) -> dict[str, float]:
    """Per-video means of the scores whose sums and counts are given (videos with no score left out)."""
    return {v: totals[v] / counts[v] for v in sorted(totals) if counts.get(v, 0) > 0}


def mean_over_videos(totals: dict[str, float], counts: dict[str, int]) -> float | None:
    values = list(frame_means(totals, counts).values())
    return float(np.mean(values)) if values else None


class FrameAverageMetric(Metric):
    """A metric defined by one score per frame pair; subclasses implement :meth:`frame_scores`."""

    def __init__(self, device: torch.device | str = "cpu", target: str = "driving") -> None:
        super().__init__(device, target)
        self.add_state("total", "sum")
        self.add_state("count", "sum")

    def frame_scores(self, generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """One score per frame (``B``) for ``B x 3 x H x W`` inputs in [0, 1]."""
        raise NotImplementedError

    def not_applicable(self, generated: torch.Tensor) -> str | None:
        """Reason why frames of this shape cannot be scored (None when they can)."""
        return None

    def add_scores(self, video: str, scores: np.ndarray | torch.Tensor) -> None:
        """Accumulate frame scores of ``video`` (float64 sums)."""
        values = np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores, dtype=np.float64)
        self.accumulate("total", video, float(values.sum()))
        self.accumulate("count", video, int(values.size))

    @torch.no_grad()
    def update(self, generated: torch.Tensor, target: torch.Tensor | None, video: str = "") -> None:
        check_pair(generated, target)
        reason = self.not_applicable(generated)
        if reason is not None:
            self.na_reason = reason
            return
        scores = self.frame_scores(generated.to(self.device, torch.float32), target.to(self.device, torch.float32))
        self.add_scores(video, scores)

    def averaged(self, reason_if_empty: str, extra: dict[str, float] | None = None) -> MetricResult:
        """The result from ``total``/``count``: per-video means and their mean."""
        value = mean_over_videos(self.total, self.count)
        return MetricResult(self.name, value, frame_means(self.total, self.count),
                            na_reason=None if value is not None else reason_if_empty, extra=extra or {})

    def compute(self) -> MetricResult:
        if self.na_reason is not None and not self.total:
            return MetricResult(self.name, None, na_reason=self.na_reason)
        return self.averaged("no frames were scored",
                             {"videos": float(len(self.total)), "frames": float(sum(self.count.values()))})


def check_pair(generated: torch.Tensor, target: torch.Tensor | None) -> None:
    """Generated frames are ``B x 3 x H x W``; the target (when given) has their shape."""
    if generated.ndim != 4 or generated.shape[1] != 3:
        raise ValueError(f"expected generated frames B x 3 x H x W, got {tuple(generated.shape)}")
    if target is not None and target.shape != generated.shape:
        raise ValueError(f"generated {tuple(generated.shape)} and target {tuple(target.shape)} frames differ in shape")


def to_uint8_images(frames: torch.Tensor) -> np.ndarray:
    """``B x 3 x H x W`` floats in [0, 1] -> ``B x H x W x 3`` uint8 (for detectors that take images)."""
    array = (frames.detach().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return np.ascontiguousarray(array.permute(0, 2, 3, 1).cpu().numpy())
