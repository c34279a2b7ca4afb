"""CSIM and AED: identity preservation from embeddings of generated frames.

Each generated frame's embedding is compared with a reference embedding: the source image's
when the metric's target is ``source`` (animation, as the paper measures CSIM), else the
corresponding driving frame's (target ``driving``: FOMM's AED). CSIM is the cosine similarity
(higher is better), AED the Euclidean distance of the unit-norm embeddings (lower is better).
Frames without a detected face on either side are not scored; their share is
``extra['missed_rate']``. Per video: mean over frames; dataset: mean over videos.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.metrics import weights
from bench.metrics.base import Backend, Metric, MetricInfo, MetricResult, TaskUse
from bench.metrics.embeddings import Embedder, Embedding, build_embedder
from bench.metrics.frame_average import check_pair, frame_means, mean_over_videos, to_uint8_images


#: identity backends shared by CSIM and AED
IDENTITY_BACKENDS = (
    Backend("arcface", ("face",), (weights.ARCFACE, weights.ARCFACE_DETECTOR),
            "insightface ArcFace w600k_r50 (buffalo_l) on SCRFD-detected, aligned faces"),
    Backend("dlib", ("face",), (weights.DLIB_LANDMARKS_5, weights.DLIB_FACE_EMBEDDING),
            "dlib face recognition ResNet (offline substitute)"),
    Backend("osnet", ("body",), (weights.OSNET,), "torchreid OSNet x1.0 on the whole frame"),
)


class IdentityMetric(Metric):
    """Shared accumulation of CSIM and AED; subclasses define :meth:`score`."""

    def __init__(self, device: torch.device | str = "cpu", target: str = "driving", backend: str = "arcface",
                 weights_dir: str | Path | None = None, allow_download: bool = False,
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

    def compute(self) -> MetricResult:
        frames = sum(self.frames.values())
        extra = {"missed_rate": sum(self.missed.values()) / frames if frames else float("nan"),
                 "scored_frames": float(sum(self.count.values()))}
        value = mean_over_videos(self.total, self.count)
        reason = None if value is not None else f"no frame with a detected identity on both sides ({self.backend})"
        return MetricResult(self.name, value, frame_means(self.total, self.count), na_reason=reason, extra=extra)


class CSIM(IdentityMetric):
    """Cosine similarity of identity embeddings (higher is better)."""

    info = MetricInfo(
        "csim", "CSIM", higher_is_better=True, decimals=2, domains=("face", "body"),
        tasks={"animation": TaskUse("source")}, backends=IDENTITY_BACKENDS,
        reference="cosine similarity of identity embeddings of each generated frame and the source image "
                  "(the SADM paper's CSIM)")

    @staticmethod
    def score(generated: np.ndarray, reference: np.ndarray) -> float:
        return float(np.dot(generated, reference))


class AED(IdentityMetric):
    """Average Euclidean distance of unit-norm identity embeddings (lower is better)."""

    info = MetricInfo(
        "aed", "AED", higher_is_better=False, decimals=3, domains=("face", "body"),
        tasks={"animation": TaskUse("source", default=False)}, backends=IDENTITY_BACKENDS,
        reference="FOMM's average Euclidean distance of identity embeddings (AliaksandrSiarohin/pose-evaluation)")

    @staticmethod
    def score(generated: np.ndarray, reference: np.ndarray) -> float:
        return float(np.linalg.norm(generated - reference))
