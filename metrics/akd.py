"""AKD (and MKR): keypoint distance between generated and driving frames, as pose-evaluation computes it.

Keypoints are detected on both frames by the backend (see ``AKD.info.backends``); the per-frame
terms are those of AliaksandrSiarohin/pose-evaluation's comparison scripts
(:mod:`bench.metrics.pose_evaluation`):

* **faces** (``cmp_kp.py``): the mean absolute coordinate difference over the 68 x 2 landmark
  coordinates, in pixels of the evaluated frames; frames whose generated frame has no detected face
  are not scored (as the script skips them). A driving (ground-truth) frame with no detected face while
  the generated frame has one makes ``cmp_kp.py`` crash (TypeError): it prints no number for such data.
  The rule here: that frame is not scored either (as the script does when both have none) and the run
  goes on, so every number the script prints is unchanged. Both kinds are counted in
  ``extra['skipped_frames']``, and ``extra['driving_missing_frames']`` counts the driving frames with
  no detection (0: the value is exactly what ``cmp_kp.py`` prints);
* **bodies** (``cmp_with_missing.py``): with a joint missing where it is not detected (x = -1 in
  OpenPose's 18 x 2 array), the AKD term is the mean absolute coordinate difference over the joints
  present in both frames (frames with none are not scored) and the MKR term (``extra['mkr']``, missing
  keypoint rate) is the share of the driving frame's joints missing on the generated frame (frames
  whose driving frame has no joint are not scored, and counted in ``extra['driving_missing_frames']``).

What is measured is per-video sums and counts of the AKD (and MKR) terms; the dataset value follows
the run's convention (:mod:`bench.metrics.aggregation`): pooled over every scored frame (``fomm``,
the scripts' ``np.mean`` over all rows) or the mean of per-video means (``video-mean``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench import weights
from bench.metrics.aggregation import Measurement, VideoSums
from bench.metrics.base import Backend, Metric, MetricInfo, TaskUse
from bench.metrics.frame_average import check_pair, to_uint8_images
from bench.metrics.keypoints import Detection, KeypointDetector, build_detector
from bench.metrics.pose_evaluation import body_akd_mkr_terms, face_akd_term


def as_joints(detection: Detection, num_keypoints: int) -> np.ndarray:
    """A detection as pose-evaluation's K x 2 joint array: -1 rows where a joint is not visible."""
    if detection is None:
        return -np.ones((num_keypoints, 2))
    points, visible = detection
    return np.where(np.asarray(visible)[:, None], np.asarray(points, dtype=np.float64), -1.0)


class AKD(Metric):
    """Average keypoint distance in pixels (lower is better); MKR for bodies in ``extra['mkr']``."""

    info = MetricInfo(
        "akd", "AKD", higher_is_better=False, unit="px", decimals=2, domains=("face", "body"),
        tasks={"reconstruction": TaskUse("driving"), "animation": TaskUse("driving")},
        backends=(
            Backend("fan", ("face",), (weights.FAN_2D, weights.S3FD),
                    "face-alignment 2D FAN with its S3FD detector (1adrianb/face-alignment), 68 landmarks of the "
                    "first face: pose-evaluation's extract_face_pose"),
            Backend("dlib", ("face",), (weights.DLIB_LANDMARKS_68,),
                    "dlib HOG detector + 68-point shape predictor (offline substitute for FAN)"),
            Backend("openpose", ("body",), (weights.OPENPOSE_BODY,),
                    "pose-evaluation's extract_body_pose: OpenPose rtpose_vgg19, 18 joints, flip averaging, "
                    "decode_pose (bench.metrics.openpose)"),
            Backend("keypointrcnn", ("body",), (weights.KEYPOINT_RCNN,),
                    "torchvision Keypoint R-CNN ResNet-50 FPN, COCO 17 keypoints of the most confident person"),
        ),
        reference="AliaksandrSiarohin/pose-evaluation cmp_kp.py (faces) and cmp_with_missing.py (bodies): mean "
                  "absolute keypoint coordinate difference in pixels, pooled over frames")

    def __init__(self, device: torch.device | str = "cpu", target: str = "driving",
                 backend: str = "fan", weights_dir: str | Path | None = None, allow_download: bool = False,
                 detector: KeypointDetector | None = None) -> None:
        super().__init__(device, target)
        self.backend = backend
        self.body = backend in BODY_BACKENDS  # cmp_with_missing.py's joints, else cmp_kp.py's landmarks
        self.detector = detector or build_detector(backend, self.device, weights_dir, allow_download)
        for name in ("total", "count", "mkr_total", "mkr_count", "skipped_frames", "driving_missing_frames"):
            self.add_state(name, "sum")

    @torch.no_grad()
    def update(self, generated: torch.Tensor, target: torch.Tensor, video: str = "") -> None:
        check_pair(generated, target)
        detected = zip(self.detector(to_uint8_images(generated)), self.detector(to_uint8_images(target)))
        akd, mkr, skipped, driving_missing = [], [], 0, 0
        for gen, ref in detected:
            if self.body:
                k = self.detector.num_keypoints
                akd_term, mkr_term = body_akd_mkr_terms(as_joints(ref, k), as_joints(gen, k))
                if mkr_term is not None:
                    mkr.append(mkr_term)
                driving_missing += mkr_term is None  # no joint on the driving frame
            else:
                driving_missing += ref is None
                akd_term = face_akd_term(None if ref is None else ref[0], None if gen is None else gen[0],
                                         on_missing_gt="skip")
            if akd_term is None:
                skipped += 1
            else:
                akd.append(akd_term)
        self.accumulate("total", video, float(np.sum(akd, dtype=np.float64)))
        self.accumulate("count", video, len(akd))
        self.accumulate("mkr_total", video, float(np.sum(mkr, dtype=np.float64)))
        self.accumulate("mkr_count", video, len(mkr))
        self.accumulate("skipped_frames", video, skipped)
        self.accumulate("driving_missing_frames", video, driving_missing)

    def compute(self) -> Measurement:
        extra = {"skipped_frames": float(sum(self.skipped_frames.values())),
                 "driving_missing_frames": float(sum(self.driving_missing_frames.values())),
                 "scored_frames": float(sum(self.count.values()))}
        mkr = {"mkr": VideoSums.from_states(self.mkr_total, self.mkr_count)} if self.body else {}
        return Measurement(self.name, VideoSums.from_states(self.total, self.count), mkr, extra=extra,
                           empty_reason=f"no frame pair with keypoints detected on both ({self.backend})")


#: backends whose keypoints are body joints (scored as cmp_with_missing.py does)
BODY_BACKENDS = {b.name for b in AKD.info.backends if b.domains == ("body",)}
