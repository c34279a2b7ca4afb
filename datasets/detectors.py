"""The face and person detectors of ``bench datasets prepare --detect``, in place of video-preprocessing's.

``crop_vox.py`` detects faces with face-alignment's S3FD; here dlib's HOG detector (offline with
dlib-bin). ``crop_taichi.py`` detects persons and keypoints with maskrcnn-benchmark's caffe2
Keypoint R-CNN; here torchvision's Keypoint R-CNN (ResNet-50 FPN, COCO), used with the same
settings. A :class:`DetectorFactory` names a detector and checks that it can be built without
building it, so a resumed run whose videos are all cached loads nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bench.errors import UserError

MODES = ("face", "body")
FACE_UPSAMPLE = 1
#: crop_taichi.py: ``COCODemo(cfg, min_image_size=256, confidence_threshold=0.7)``
PERSON_MIN_IMAGE_SIZE = 256
PERSON_CONFIDENCE = 0.7


class FaceBoxDetector(Protocol):
    name: str

    def __call__(self, image: np.ndarray) -> list[tuple[float, float, float, float]]: ...


@dataclass(frozen=True)
class PersonDetections:
    """Persons in one frame: ``boxes`` N x 4 (x0, y0, x1, y1), ``scores`` N, ``keypoint_scores`` N x 17
    (COCO order; the keypoint heatmap logits that crop_taichi.py's ``check_full_person`` thresholds)."""

    boxes: np.ndarray
    scores: np.ndarray
    keypoint_scores: np.ndarray


class PersonDetector(Protocol):
    name: str

    def __call__(self, image: np.ndarray) -> PersonDetections: ...


def _face_name(upsample: int) -> str:
    return f"dlib-hog-up{upsample}"


def _person_name(min_image_size: int, confidence_threshold: float) -> str:
    return f"torchvision-keypointrcnn-min{min_image_size}-th{confidence_threshold}"


class DlibFaceBoxes:
    """dlib's HOG frontal face detector (offline with dlib-bin), upsampling ``upsample`` times."""

    def __init__(self, upsample: int = FACE_UPSAMPLE) -> None:
        from bench import weights  # here: bench.weights imports torch, which a face worker does not need

        self.detector = weights.import_dlib().get_frontal_face_detector()
        self.upsample = upsample
        self.name = _face_name(upsample)

    def __call__(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        return [(float(r.left()), float(r.top()), float(r.right()), float(r.bottom()))
                for r in self.detector(np.ascontiguousarray(image), self.upsample)]


class TorchvisionPersons:
    """torchvision Keypoint R-CNN (ResNet-50 FPN, COCO) in place of crop_taichi.py's maskrcnn-benchmark
    keypoint model, used as there: ``COCODemo(cfg, min_image_size=256, confidence_threshold=0.7)``
    (shorter side resized to 256, persons scoring above 0.7). Needs the torchvision COCO weights
    (``MissingWeightsError`` names the file and folder when absent)."""

    def __init__(self, device: str = "cpu", weights_dir: str | Path | None = None,
                 min_image_size: int = PERSON_MIN_IMAGE_SIZE, confidence_threshold: float = PERSON_CONFIDENCE,
                 allow_download: bool = False) -> None:
        import torch
        from torchvision.models.detection import keypointrcnn_resnet50_fpn

        from bench import weights

        path = weights.resolve(weights.KEYPOINT_RCNN, weights_dir, allow_download)
        self.torch = torch
        self.device = torch.device(device)
        self.model = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None, min_size=min_image_size)
        self.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.model.eval().to(self.device)
        self.threshold = confidence_threshold
        self.name = _person_name(min_image_size, confidence_threshold)

    def __call__(self, image: np.ndarray) -> PersonDetections:
        torch = self.torch
        with torch.no_grad():
            tensor = torch.from_numpy(np.ascontiguousarray(image)).to(self.device).permute(2, 0, 1).float() / 255.0
            result = self.model([tensor])[0]
        keep = result["scores"] > self.threshold
        return PersonDetections(result["boxes"][keep].cpu().double().numpy(),
                                result["scores"][keep].cpu().double().numpy(),
                                result["keypoints_scores"][keep].cpu().double().numpy())


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UserError(f"unknown --detect {mode!r}; choose from: {', '.join(MODES)}")
    return mode


def default_detector(mode: str, device: str = "cpu", weights_dir: str | Path | None = None,
                     allow_download: bool = False) -> Any:
    """The detector of ``mode``: dlib HOG faces or torchvision Keypoint R-CNN persons."""
    if check_mode(mode) == "face":
        return DlibFaceBoxes()
    return TorchvisionPersons(device=device, weights_dir=weights_dir, allow_download=allow_download)


@dataclass(frozen=True)
class DetectorFactory:
    """The default detector of ``mode``, built where it is used (each worker process builds its own);
    picklable, named (:attr:`name`, part of the detection cache key) without being built."""

    mode: str
    device: str = "cpu"
    weights_dir: str | None = None
    allow_download: bool = False

    @property
    def name(self) -> str:
        """The built detector's ``name`` (its default settings)."""
        if check_mode(self.mode) == "face":
            return _face_name(FACE_UPSAMPLE)
        return _person_name(PERSON_MIN_IMAGE_SIZE, PERSON_CONFIDENCE)

    def check(self) -> None:
        """One line, before any video is read, when the detector cannot be built: dlib missing, or the
        Keypoint R-CNN weights (downloaded here when allowed)."""
        from bench import weights

        if check_mode(self.mode) == "face":
            weights.import_dlib()
        else:
            weights.resolve(weights.KEYPOINT_RCNN, self.weights_dir, self.allow_download)

    def __call__(self) -> Any:
        return default_detector(self.mode, self.device, self.weights_dir, self.allow_download)
