"""CSIM and AED: identity preservation from embeddings of generated frames.

Each generated frame's embedding is compared with a reference embedding: the source image's
when the metric's target is ``source`` (animation, as the paper measures CSIM), else the
corresponding driving frame's (target ``driving``: FOMM's reconstruction AED). CSIM is the cosine
similarity (higher is better); AED is pose-evaluation's ``cmp.py`` term, the squared Euclidean
distance of the two embeddings (lower is better): unit-norm face embeddings (as OpenFace's),
the raw 2048-d ``ft_net`` feature for bodies. Frames without a detected face on either side are
not scored; their share is ``extra['missed_rate']``. What is measured is per-video sums and counts;
dataset values follow the run's convention (frames pooled, or the mean of per-video means).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench import weights
from bench.metrics.aggregation import Measurement, VideoSums
from bench.metrics.base import Backend, Metric, MetricInfo, TaskUse
from bench.metrics.embeddings import Embedder, Embedding, build_embedder
from bench.metrics.frame_average import check_pair, to_uint8_images
from bench.metrics.pose_evaluation import aed_term


#: identity backends shared by CSIM and AED
IDENTITY_BACKENDS = (
    Backend("arcface", ("face",), (weights.ARCFACE, weights.ARCFACE_DETECTOR),
            "insightface ArcFace w600k_r50 (buffalo_l) on SCRFD-detected, aligned faces, unit norm (substitute "
            "for pose-evaluation's OpenFace, whose weights are not public)"),
    Backend("dlib", ("face",), (weights.DLIB_LANDMARKS_5, weights.DLIB_FACE_EMBEDDING),
            "dlib face recognition ResNet, unit norm (offline substitute)"),
    Backend("reid-resnet50", ("body",), (weights.REID_BODY,),
            "pose-evaluation's extract_body_id: Person_reID_baseline ft_net ResNet-50 on the whole frame "
            "(288 x 144 bicubic, train-mode BatchNorm), raw 2048-d feature (bench.metrics.reid)"),
    Backend("osnet", ("body",), (weights.OSNET,), "torchreid OSNet x1.0 on the whole frame, unit norm"),
)


class IdentityMetric(Metric):
    """Shared accumulation of CSIM and AED; subclasses define :meth:`score`."""

    def __init__(self, device: torch.device | str = "cpu", target: str = "driving",
                 backend: str = "arcface", weights_dir: str | Path | None = None, allow_download: bool = False,
                 embedder: Embedder | None = None) -> None:
        super().__init__(device, target)
        self.backend = backend
        self.embedder = embedder or build_embedder(backend, str(self.device),
                                                   None if weights_dir is None else str(weights_dir), allow_download)
        self.source_embeddings: dict[str, Embedding] = {}
        self.add_state("total", "sum")
        self.add_state("count", "sum")
        self.add_state("frames", "sum")
        self.add_state("missed", "sum")

    @staticmethod
    def score(generated: np.ndarray, reference: np.ndarray) -> float:
        raise NotImplementedError

    def _source_embedding(self, video: str, source: torch.Tensor) -> Embedding:
        if video not in self.source_embeddings:
            self.source_embeddings[video] = self.embedder(to_uint8_images(source[:1]))[0]
        return self.source_embeddings[video]

    @torch.no_grad()
    def update(self, generated: torch.Tensor, target: torch.Tensor, video: str = "") -> None:
        check_pair(generated, target)
        gen = self.embedder(to_uint8_images(generated))
        if self.target == "source":
            refs = [self._source_embedding(video, target)] * len(gen)
        else:
            refs = self.embedder(to_uint8_images(target))
        scores = [self.score(g, r) for g, r in zip(gen, refs) if g is not None and r is not None]
        self.accumulate("total", video, float(np.sum(scores, dtype=np.float64)))
        self.accumulate("count", video, len(scores))
        self.accumulate("frames", video, len(gen))
        self.accumulate("missed", video, len(gen) - len(scores))

    def compute(self) -> Measurement:
        frames = sum(self.frames.values())
        extra = {"missed_rate": sum(self.missed.values()) / frames if frames else float("nan"),
                 "scored_frames": float(sum(self.count.values()))}
        return Measurement(self.name, VideoSums.from_states(self.total, self.count), extra=extra,
                           empty_reason=f"no frame with a detected identity on both sides ({self.backend})")


class CSIM(IdentityMetric):
    """Cosine similarity of identity embeddings (higher is better)."""

    info = MetricInfo(
        "csim", "CSIM", higher_is_better=True, decimals=2, domains=("face", "body"),
        tasks={"animation": TaskUse("source")}, backends=IDENTITY_BACKENDS,
        reference="cosine similarity of identity embeddings of each generated frame and the source image "
                  "(the SADM paper's CSIM)")

    @staticmethod
    def score(generated: np.ndarray, reference: np.ndarray) -> float:
        g, r = np.asarray(generated, np.float64).ravel(), np.asarray(reference, np.float64).ravel()
        return float(np.dot(g, r) / max(np.linalg.norm(g) * np.linalg.norm(r), 1e-300))


class AED(IdentityMetric):
    """Average (squared) Euclidean distance of identity embeddings, pose-evaluation's cmp.py (lower is better)."""

    info = MetricInfo(
        "aed", "AED", higher_is_better=False, decimals=3, domains=("face", "body"),
        tasks={"reconstruction": TaskUse("driving", default=False), "animation": TaskUse("source", default=False)},
        backends=IDENTITY_BACKENDS,
        reference="AliaksandrSiarohin/pose-evaluation cmp.py: sum |e(generated) - e(ground truth)|^2 per frame "
                  "(the squared L2 distance), pooled over frames")

    @staticmethod
    def score(generated: np.ndarray, reference: np.ndarray) -> float:
        return aed_term(reference, generated)
