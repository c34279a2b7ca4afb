"""Keypoint detectors for AKD: dlib 68-point, face-alignment 2D FAN (faces), OpenPose (pose-evaluation's
body joints, :mod:`bench.metrics.openpose`) and Keypoint R-CNN (bodies).

A detector maps ``B x H x W x 3`` uint8 RGB images to one entry per image: ``None`` when no
face / person is found, else ``(points K x 2 in pixels (x, y), visible K bool)``. With several
faces: FAN takes the first (as pose-evaluation does), dlib the largest; Keypoint R-CNN the most
confident person; OpenPose fills each joint type as pose-evaluation's extract.py does.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol
from unittest import mock

import numpy as np
import torch

from bench.errors import UserError
from bench import weights

Detection = tuple[np.ndarray, np.ndarray] | None


class KeypointDetector(Protocol):
    num_keypoints: int

    def __call__(self, images: np.ndarray) -> list[Detection]: ...


def _largest(boxes: list[tuple[float, float, float, float]]) -> int:
    """Index of the box (x0, y0, x1, y1) with the largest area."""
    return int(np.argmax([(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]))


class DlibLandmarks:
    """dlib HOG face detector + 68-point shape predictor (face-recognition-models' file); CPU only."""

    num_keypoints = 68

    def __init__(self, weights_dir: str | Path | None = None, upsample: int = 1) -> None:
        dlib = weights.import_dlib()
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(weights.resolve(weights.DLIB_LANDMARKS_68, weights_dir)))
        self.upsample = upsample

    def __call__(self, images: np.ndarray) -> list[Detection]:
        out: list[Detection] = []
        for image in images:
            faces = list(self.detector(image, self.upsample))
            if not faces:
                out.append(None)
                continue
            face = faces[_largest([(f.left(), f.top(), f.right(), f.bottom()) for f in faces])]
            shape = self.predictor(image, face)
            points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            out.append((points, np.ones(len(points), bool)))
        return out


class FanLandmarks:
    """face-alignment's 2D FAN with its S3FD detector, as pose-evaluation's ``extract_face_pose``:
    ``get_landmarks`` on the RGB frame at its size, the 68 landmarks of the first detected face."""

    num_keypoints = 68

    def __init__(self, device: torch.device | str = "cpu", weights_dir: str | Path | None = None,
                 allow_download: bool = False) -> None:
        import face_alignment
        import face_alignment.api

        fan = weights.resolve(weights.FAN_2D, weights_dir, allow_download)
        s3fd = weights.resolve(weights.S3FD, weights_dir, allow_download)
        # face-alignment fetches FAN by URL; hand it the resolved file instead
        with mock.patch.object(face_alignment.api, "load_file_from_url", lambda url, *a, **k: str(fan)):
            self.model = face_alignment.FaceAlignment(
                face_alignment.LandmarksType.TWO_D, device=str(torch.device(device)), flip_input=False,
                face_detector="sfd", face_detector_kwargs={"path_to_detector": str(s3fd)}, compile=False)

    def __call__(self, images: np.ndarray) -> list[Detection]:
        out: list[Detection] = []
        for image in images:
            landmarks = self.model.get_landmarks_from_image(image)
            if not landmarks:
                out.append(None)
                continue
            points = np.asarray(landmarks[0][:, :2], dtype=np.float32)  # face-alignment's float32, first face
            out.append((points, np.ones(len(points), bool)))
        return out


class KeypointRCNN:
    """torchvision Keypoint R-CNN (ResNet-50 FPN, COCO 17 keypoints) for human bodies.

    The most confident person above ``person_threshold`` is used; a keypoint counts as
    visible when its heatmap score exceeds ``keypoint_threshold``.
    """

    num_keypoints = 17

    def __init__(self, device: torch.device | str = "cpu", weights_dir: str | Path | None = None,
                 allow_download: bool = False, pretrained: bool = True, person_threshold: float = 0.5,
                 keypoint_threshold: float = 0.0) -> None:
        from torchvision.models.detection import keypointrcnn_resnet50_fpn

        self.device = torch.device(device)
        path = weights.resolve(weights.KEYPOINT_RCNN, weights_dir, allow_download) if pretrained else None
        self.model = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None)
        if path is not None:
            self.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.model.eval().to(self.device)
        self.person_threshold = person_threshold
        self.keypoint_threshold = keypoint_threshold

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> list[Detection]:
        batch = [torch.from_numpy(image).to(self.device).permute(2, 0, 1).float() / 255.0 for image in images]
        out: list[Detection] = []
        for result in self.model(batch):
            keep = result["scores"] >= self.person_threshold
            if not bool(keep.any()):
                out.append(None)
                continue
            best = int(torch.argmax(torch.where(keep, result["scores"], -1.0)))
            points = result["keypoints"][best, :, :2].cpu().double().numpy()
            visible = (result["keypoints_scores"][best] > self.keypoint_threshold).cpu().numpy()
            out.append((points, visible))
        return out


def build_detector(backend: str, device: torch.device | str = "cpu", weights_dir: str | Path | None = None,
                   allow_download: bool = False) -> KeypointDetector:
    """The keypoint detector named ``backend`` ('dlib', 'fan', 'openpose' or 'keypointrcnn')."""
    if backend == "openpose":
        from bench.metrics.openpose import OpenPoseBody

        return OpenPoseBody(device, weights_dir, allow_download)
    if backend == "dlib":
        return DlibLandmarks(weights_dir)
    if backend == "fan":
        return FanLandmarks(device, weights_dir, allow_download)
    if backend == "keypointrcnn":
        return KeypointRCNN(device, weights_dir, allow_download)
    raise UserError(f"unknown keypoint backend {backend!r}; choose from: dlib, fan, openpose, keypointrcnn")
