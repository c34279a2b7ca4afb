"""Frame-wise metrics: one score per generated frame, summed per video.

State (declared once): per-video ``total`` and ``count`` of the frame scores, so instances that
saw different videos merge exactly. What they measure is those per-video sums
(:class:`~bench.metrics.aggregation.VideoSums`); the dataset value follows the run's convention
(:data:`bench.metrics.aggregation.CONVENTIONS`), applied by the aggregation step. A frame whose
score is not finite (PSNR of a frame identical to its target) is not scored; it is counted in
``unscored``.
"""
from __future__ import annotations

import numpy as np
import torch

from bench.metrics.aggregation import Measurement, VideoSums
from bench.metrics.base import Metric


class FrameAverageMetric(Metric):
    """A metric defined by one score per frame pair; subclasses implement :meth:`frame_scores`."""

    #: what a non-finite frame score means for this metric (such frames are not scored)
    unscored_why = "non-finite score"

    def __init__(self, device: torch.device | str = "cpu", target: str = "driving") -> None:
        super().__init__(device, target)
        self.add_state("total", "sum")
        self.add_state("count", "sum")
        self.add_state("unscored", "sum")

    def frame_scores(self, generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """One score per frame (``B``) for ``B x 3 x H x W`` inputs in [0, 1]."""
        raise NotImplementedError

    def not_applicable(self, generated: torch.Tensor) -> str | None:
        """Reason why frames of this shape cannot be scored (None when they can)."""
        return None

    def add_scores(self, video: str, scores: np.ndarray | torch.Tensor) -> None:
        """Accumulate the finite frame scores of ``video`` (float64 sums); count the others as unscored."""
        values = np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores, dtype=np.float64)
        finite = values[np.isfinite(values)]
        self.accumulate("total", video, float(finite.sum()))
        self.accumulate("count", video, int(finite.size))
        self.accumulate("unscored", video, int(values.size - finite.size))

    @torch.no_grad()
    def update(self, generated: torch.Tensor, target: torch.Tensor | None, video: str = "") -> None:
        check_pair(generated, target)
        reason = self.not_applicable(generated)
        if reason is not None:
            self.na_reason = reason
            return
        scores = self.frame_scores(generated.to(self.device, torch.float32), target.to(self.device, torch.float32))
        self.add_scores(video, scores)

    def compute(self) -> Measurement:
        if self.na_reason is not None and not self.total:
            return Measurement(self.name, na_reason=self.na_reason)
        extra = {"videos": float(len(self.total)), "frames": float(sum(self.count.values()))}
        unscored = sum(self.unscored.values())
        reason = "no frames were scored"
        if unscored:
            extra["unscored_frames"] = float(unscored)
            reason += f" ({unscored} frame(s) without a finite score: {self.unscored_why})"
        return Measurement(self.name, VideoSums.from_states(self.total, self.count), extra=extra,
                           empty_reason=reason)


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
