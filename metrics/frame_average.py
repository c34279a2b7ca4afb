"""Streaming per-video averages shared by the frame-wise metrics.

Convention (FOMM's): a video's value is the mean over its frames; the dataset value is the
mean over videos, so long videos do not outweigh short ones. State is a per-video sum and
count, so two instances that saw different videos merge exactly.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bench.metrics.base import Metric, MetricResult


class PerVideoMean:
    """Per-video sums and counts of frame scores."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, video: str, scores: np.ndarray | torch.Tensor) -> None:
        values = np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores, dtype=np.float64)
        self.sums[video] = self.sums.get(video, 0.0) + float(values.sum())
        self.counts[video] = self.counts.get(video, 0) + int(values.size)

    def per_video(self) -> dict[str, float]:
        return {v: self.sums[v] / self.counts[v] for v in sorted(self.sums) if self.counts[v] > 0}

    def mean_over_videos(self) -> float | None:
        values = list(self.per_video().values())
        return float(np.mean(values)) if values else None

    def state(self) -> dict[str, Any]:
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    def merge(self, state: dict[str, Any]) -> None:
        for video, total in state["sums"].items():
            self.sums[video] = self.sums.get(video, 0.0) + float(total)
            self.counts[video] = self.counts.get(video, 0) + int(state["counts"][video])


class FrameAverageMetric(Metric):
    """A metric defined by one score per frame pair; subclasses implement :meth:`frame_scores`."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        super().__init__(device)
        self.acc = PerVideoMean()
        self.na_reason: str | None = None

    def frame_scores(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """One score per frame (``B``) for ``B x 3 x H x W`` inputs in [0, 1]."""
        raise NotImplementedError

    def not_applicable(self, generated: torch.Tensor) -> str | None:
        """Reason why frames of this shape cannot be scored (None when they can)."""
        return None

    @torch.no_grad()
    def update(self, generated: torch.Tensor, real: torch.Tensor, video: str = "", source: torch.Tensor | None = None) -> None:
        check_pair(generated, real)
        reason = self.not_applicable(generated)
        if reason is not None:
            self.na_reason = reason
            return
        scores = self.frame_scores(generated.to(self.device, torch.float32), real.to(self.device, torch.float32))
        self.acc.add(video, scores)

    def compute(self) -> MetricResult:
        if self.na_reason is not None and not self.acc.sums:
            return MetricResult(self.name, None, na_reason=self.na_reason)
        value = self.acc.mean_over_videos()
        return MetricResult(self.name, value, self.acc.per_video(),
                            na_reason=None if value is not None else "no frames were scored",
                            extra={"videos": float(len(self.acc.sums)), "frames": float(sum(self.acc.counts.values()))})

    def reset(self) -> None:
        self.acc = PerVideoMean()
        self.na_reason = None

    def state(self) -> dict[str, Any]:
        return {**self.acc.state(), "na_reason": self.na_reason}

    def merge(self, state: dict[str, Any]) -> None:
        self.acc.merge(state)
        self.na_reason = self.na_reason or state.get("na_reason")


def check_pair(generated: torch.Tensor, real: torch.Tensor | None) -> None:
    """Both inputs are ``B x 3 x H x W`` of the same shape (real may be absent)."""
    if generated.ndim != 4 or generated.shape[1] != 3:
        raise ValueError(f"expected generated frames B x 3 x H x W, got {tuple(generated.shape)}")
    if real is not None and real.shape != generated.shape:
        raise ValueError(f"generated {tuple(generated.shape)} and real {tuple(real.shape)} frames differ in shape")


def to_uint8_images(frames: torch.Tensor) -> np.ndarray:
    """``B x 3 x H x W`` floats in [0, 1] -> ``B x H x W x 3`` uint8 (for detectors that take images)."""
    array = (frames.detach().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return np.ascontiguousarray(array.permute(0, 2, 3, 1).cpu().numpy())
