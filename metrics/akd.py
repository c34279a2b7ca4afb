"""AKD: average keypoint distance between generated and real frames (FOMM's pose evaluation).

Per frame: keypoints are detected on both frames; the frame's distance is the mean Euclidean
distance (pixels of the evaluated frames) over keypoints visible in both. As in FOMM's
pose-evaluation, frames whose real frame has no detection are skipped, and keypoints detected
on the real frame but missed on the generated one are not scored but counted: their share of
all real keypoints is reported as ``extra['missed_rate']``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.metrics import weights
from bench.metrics.base import Backend, Metric, MetricInfo, MetricResult, TaskUse
from bench.metrics.frame_average import check_pair, frame_means, mean_over_videos, to_uint8_images
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

    info = MetricInfo(
        "akd", "AKD", higher_is_better=False, unit="px", decimals=2, domains=("face", "body"),
        tasks={"reconstruction": TaskUse("driving"), "animation": TaskUse("driving")},
        backends=(
            Backend("fan", ("face",), (weights.FAN_2D, weights.S3FD),
                    "face-alignment 2D FAN with its S3FD detector (1adrianb/face-alignment), 68 landmarks"),
            Backend("dlib", ("face",), (weights.DLIB_LANDMARKS_68,),
                    "dlib HOG detector + 68-point shape predictor (offline substitute for FAN)"),
            Backend("keypointrcnn", ("body",), (weights.KEYPOINT_RCNN,),
                    "torchvision Keypoint R-CNN ResNet-50 FPN, COCO 17 keypoints"),
        ),
        reference="FOMM's pose evaluation (AliaksandrSiarohin/pose-evaluation): keypoints detected on generated "
                  "and driving frames, mean distance over keypoints found on both")

    def __init__(self, device: torch.device | str = "cpu", target: str = "driving", backend: str = "fan",
                 weights_dir: str | Path | None = None, allow_download: bool = False,
                 detector: KeypointDetector | None = None) -> None:
        super().__init__(device, target)
        self.backend = backend
        self.detector = detector or build_detector(backend, self.device, weights_dir, allow_download)
        self.add_state("total", "sum")
        self.add_state("count", "sum")
        for counter in COUNTERS:
            self.add_state(counter, "sum")

    @torch.no_grad()
    def update(self, generated: torch.Tensor, target: torch.Tensor, video: str = "") -> None:
        check_pair(generated, target)
        distances = []
        for gen, ref in zip(self.detector(to_uint8_images(generated)), self.detector(to_uint8_images(target))):
            distance, n_real, missed = frame_distance(gen, ref)
            self.accumulate("skipped_frames", video, int(ref is None))
            self.accumulate("real_keypoints", video, n_real)
            self.accumulate("missed_keypoints", video, missed)
            if distance is not None:
                distances.append(distance)
        self.accumulate("total", video, float(np.sum(distances, dtype=np.float64)))
        self.accumulate("count", video, len(distances))

    def compute(self) -> MetricResult:
        totals = {c: sum(getattr(self, c).values()) for c in COUNTERS}
        extra = {"missed_rate": totals["missed_keypoints"] / totals["real_keypoints"] if totals["real_keypoints"] else float("nan"),
                 "skipped_frames": float(totals["skipped_frames"]),
                 "scored_frames": float(sum(self.count.values()))}
        value = mean_over_videos(self.total, self.count)
        reason = None if value is not None else f"no frame pair with keypoints detected on both ({self.backend})"
        return MetricResult(self.name, value, frame_means(self.total, self.count), na_reason=reason, extra=extra)
