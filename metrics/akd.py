"""AKD: average keypoint distance between generated and real frames (FOMM's pose evaluation).

Per frame: keypoints are detected on both frames; the frame's distance is the mean Euclidean
distance (pixels of the evaluated frames) over keypoints visible in both. As in FOMM's
pose-evaluation, frames whose real frame has no detection are skipped, and keypoints detected
on the real frame but missed on the generated one are not scored but counted: their share of
all real keypoints is reported as ``extra['missed_rate']``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.metrics.base import Metric, MetricResult
from bench.metrics.frame_average import PerVideoMean, check_pair, to_uint8_images
from bench.metrics.keypoints import Detection, KeypointDetector, build_detector

COUNTERS = ("real_keypoints", "missed_keypoints", "skipped_frames")


def frame_distance(generated: Detection, real: Detection) -> tuple[float | None, int, int]:
    """(mean distance over keypoints found in both or None, real keypoints, keypoints missed on generated)."""
    if real is None:
        return None, 0, 0
    real_points, real_visible = real
    n_real = int(real_visible.sum())
    if generated is None:
        return None, n_real, n_real
    gen_points, gen_visible = generated
    both = real_visible & gen_visible
    missed = int((real_visible & ~gen_visible).sum())
    if not both.any():
        return None, n_real, missed
    distance = float(np.linalg.norm(gen_points[both] - real_points[both], axis=1).mean())
    return distance, n_real, missed


class AKD(Metric):
    """Average keypoint distance in pixels (lower is better); backends 'fan', 'dlib' (faces), 'keypointrcnn' (bodies)."""

    name = "akd"
    higher_is_better = False
    domains = ("face", "body")
    backends = ("fan", "dlib", "keypointrcnn")

    def __init__(self, device: torch.device | str = "cpu", backend: str = "fan", weights_dir: str | Path | None = None,
                 allow_download: bool = False, detector: KeypointDetector | None = None) -> None:
        super().__init__(device)
        self.backend = backend
        self.detector = detector or build_detector(backend, self.device, weights_dir, allow_download)
        self.reset()

    def reset(self) -> None:
        self.acc = PerVideoMean()
        self.counters: dict[str, dict[str, int]] = {c: {} for c in COUNTERS}

    def _count(self, counter: str, video: str, n: int) -> None:
        self.counters[counter][video] = self.counters[counter].get(video, 0) + n

    @torch.no_grad()
    def update(self, generated: torch.Tensor, real: torch.Tensor, video: str = "", source: torch.Tensor | None = None) -> None:
        check_pair(generated, real)
        distances = []
        for gen, ref in zip(self.detector(to_uint8_images(generated)), self.detector(to_uint8_images(real))):
            distance, n_real, missed = frame_distance(gen, ref)
            self._count("skipped_frames", video, int(ref is None))
            self._count("real_keypoints", video, n_real)
            self._count("missed_keypoints", video, missed)
            if distance is not None:
                distances.append(distance)
        self.acc.add(video, np.asarray(distances))

    def compute(self) -> MetricResult:
        totals = {c: sum(v.values()) for c, v in self.counters.items()}
        extra = {"missed_rate": totals["missed_keypoints"] / totals["real_keypoints"] if totals["real_keypoints"] else float("nan"),
                 "skipped_frames": float(totals["skipped_frames"]),
                 "scored_frames": float(sum(self.acc.counts.values()))}
        value = self.acc.mean_over_videos()
        reason = None if value is not None else f"no frame pair with keypoints detected on both ({self.backend})"
        return MetricResult(self.name, value, self.acc.per_video(), na_reason=reason, extra=extra)

    def state(self) -> dict[str, Any]:
        return {**self.acc.state(), "counters": {c: dict(v) for c, v in self.counters.items()}}

    def merge(self, state: dict[str, Any]) -> None:
        self.acc.merge(state)
        for counter, per_video in state["counters"].items():
            for video, n in per_video.items():
                self._count(counter, video, int(n))
