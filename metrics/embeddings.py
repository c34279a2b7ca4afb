"""Identity embedders for CSIM / AED: insightface ArcFace and dlib (faces), pose-evaluation's ReID
ResNet-50 and torchreid OSNet (bodies).

An embedder maps ``B x H x W x 3`` uint8 RGB images to one embedding per image, or ``None`` when
no face is found (body embeddings use the whole frame, as pose-evaluation's ``extract_body_id``).
Face and OSNet embeddings are L2-normalised (like the OpenFace embeddings of pose-evaluation's
face AED); the ReID ResNet-50 feature is raw, as ``extract_body_id`` stores it.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from bench.errors import UserError
from bench import weights

Embedding = np.ndarray | None
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Embedder(Protocol):
    def __call__(self, images: np.ndarray) -> list[Embedding]: ...


def unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64).ravel()
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def _largest_box(boxes: list[tuple[float, float, float, float]]) -> int:
    return int(np.argmax([(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]))


class DlibFaceEmbedder:
    """dlib HOG detector, 5-point alignment and the 128-d face recognition ResNet; CPU only."""

    def __init__(self, weights_dir: str | Path | None = None, upsample: int = 1) -> None:
        dlib = weights.import_dlib()
        self.detector = dlib.get_frontal_face_detector()
        self.shape = dlib.shape_predictor(str(weights.resolve(weights.DLIB_LANDMARKS_5, weights_dir)))
        self.net = dlib.face_recognition_model_v1(str(weights.resolve(weights.DLIB_FACE_EMBEDDING, weights_dir)))
        self.upsample = upsample

    def __call__(self, images: np.ndarray) -> list[Embedding]:
        out: list[Embedding] = []
        for image in images:
            faces = list(self.detector(image, self.upsample))
            if not faces:
                out.append(None)
                continue
            face = faces[_largest_box([(f.left(), f.top(), f.right(), f.bottom()) for f in faces])]
            out.append(unit(self.net.compute_face_descriptor(image, self.shape(image, face))))
        return out


class ArcFaceEmbedder:
    """insightface's ArcFace (w600k_r50 of the buffalo_l pack) on SCRFD-detected, aligned faces."""

    def __init__(self, device: torch.device | str = "cpu", weights_dir: str | Path | None = None) -> None:
        from insightface.app import FaceAnalysis

        model = weights.resolve(weights.ARCFACE, weights_dir)
        weights.resolve(weights.ARCFACE_DETECTOR, weights_dir)
        cuda = torch.device(device).type == "cuda"
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
        self.app = FaceAnalysis(name=str(model.parent), allowed_modules=["detection", "recognition"], providers=providers)
        self.app.prepare(ctx_id=0 if cuda else -1, det_size=(640, 640))

    def __call__(self, images: np.ndarray) -> list[Embedding]:
        out: list[Embedding] = []
        for image in images:
            faces = self.app.get(np.ascontiguousarray(image[..., ::-1]))  # insightface takes BGR
            if not faces:
                out.append(None)
                continue
            out.append(unit(faces[_largest_box([tuple(f.bbox[:4]) for f in faces])].embedding))
        return out


class OSNetEmbedder:
    """torchreid OSNet x1.0 on the whole frame resized to 256 x 128, ImageNet normalisation."""

    def __init__(self, device: torch.device | str = "cpu", weights_dir: str | Path | None = None,
                 allow_download: bool = False, pretrained: bool = True) -> None:
        from torchreid.reid.models import build_model
        from torchreid.reid.utils import load_pretrained_weights

        self.device = torch.device(device)
        path = weights.resolve(weights.OSNET, weights_dir, allow_download) if pretrained else None
        self.model = build_model("osnet_x1_0", num_classes=1, pretrained=False, use_gpu=False)
        if path is not None:
            load_pretrained_weights(self.model, str(path))
        self.model.eval().to(self.device)
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> list[Embedding]:
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        x = F.interpolate(x, size=(256, 128), mode="bilinear", align_corners=False, antialias=True)
        features = self.model((x - self.mean) / self.std)
        return [unit(f) for f in features.cpu().numpy()]


@functools.lru_cache(maxsize=4)
def build_embedder(backend: str, device: str = "cpu", weights_dir: str | None = None,
                   allow_download: bool = False) -> Embedder:
    """The embedder named ``backend`` ('arcface', 'dlib', 'reid-resnet50', 'osnet'); cached so CSIM and AED
    share one model."""
    if backend == "reid-resnet50":
        from bench.metrics.reid import ReIDBody

        return ReIDBody(device, weights_dir, allow_download)
    if backend == "dlib":
        return DlibFaceEmbedder(weights_dir)
    if backend == "arcface":
        return ArcFaceEmbedder(device, weights_dir)
    if backend == "osnet":
        return OSNetEmbedder(device, weights_dir, allow_download)
    raise UserError(f"unknown identity backend {backend!r}; choose from: arcface, dlib, reid-resnet50, osnet")
