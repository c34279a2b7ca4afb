"""CSIM and AED: identity preservation from embeddings of generated frames.

Each generated frame's embedding is compared with a reference embedding: the source image's
when ``source`` is passed to ``update`` (animation, as the paper measures CSIM), else the
corresponding real frame's (reconstruction, FOMM's AED). CSIM is the cosine similarity
(higher is better), AED the Euclidean distance of the unit-norm embeddings (lower is better).
Frames without a detected face on either side are not scored; their share is
``extra['missed_rate']``. Per video: mean over frames; dataset: mean over videos.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from bench.metrics.base import Metric, MetricResult
from bench.metrics.embeddings import Embedder, Embedding, build_embedder
from bench.metrics.frame_average import PerVideoMean, check_pair, to_uint8_images


class IdentityMetric(Metric):
    """Shared accumulation of CSIM and AED; subclasses define :meth:`score`."""

    domains = ("face", "body")
    backends = ("arcface", "dlib", "osnet")
    default_backend: ClassVar[dict[str, str]] = {"face": "arcface", "body": "osnet"}

    def __init__(self, device: torch.device | str = "cpu", backend: str = "arcface", weights_dir: str | Path | None = None,
                 allow_download: bool = False, embedder: Embedder | None = None) -> None:
        super().__init__(device)
        self.backend = backend
        self.embedder = embedder or build_embedder(backend, str(self.device),
                                                   None if weights_dir is None else str(weights_dir), allow_download)
        self.source_embeddings: dict[str, Embedding] = {}
        self.reset()

    @staticmethod
    def score(generated: np.ndarray, reference: np.ndarray) -> float:
        raise NotImplementedError

    def reset(self) -> None:
        self.acc = PerVideoMean()
        self.frames: dict[str, int] = {}
        self.missed: dict[str, int] = {}

    def _source_embedding(self, video: str, source: torch.Tensor) -> Embedding:
        if video not in self.source_embeddings:
            self.source_embeddings[video] = self.embedder(to_uint8_images(source[:1]))[0]
        return self.source_embeddings[video]

    @torch.no_grad()
    def update(self, generated: torch.Tensor, real: torch.Tensor | None, video: str = "", source: torch.Tensor | None = None) -> None:
        check_pair(generated, real)
        gen = self.embedder(to_uint8_images(generated))
        if source is not None:
            refs = [self._source_embedding(video, source)] * len(gen)
        elif real is not None:
            refs = self.embedder(to_uint8_images(real))
        else:
            raise ValueError(f"{self.name} needs a source image or real frames")
        scores = [self.score(g, r) for g, r in zip(gen, refs) if g is not None and r is not None]
        self.acc.add(video, np.asarray(scores))
        self.frames[video] = self.frames.get(video, 0) + len(gen)
        self.missed[video] = self.missed.get(video, 0) + len(gen) - len(scores)

    def compute(self) -> MetricResult:
        frames = sum(self.frames.values())
        extra = {"missed_rate": sum(self.missed.values()) / frames if frames else float("nan"),
                 "scored_frames": float(sum(self.acc.counts.values()))}
        value = self.acc.mean_over_videos()
        reason = None if value is not None else f"no frame with a detected identity on both sides ({self.backend})"
        return MetricResult(self.name, value, self.acc.per_video(), na_reason=reason, extra=extra)

    def state(self) -> dict[str, Any]:
        return {**self.acc.state(), "frames": dict(self.frames), "missed": dict(self.missed)}

    def merge(self, state: dict[str, Any]) -> None:
        self.acc.merge(state)
        for video, n in state["frames"].items():
            self.frames[video] = self.frames.get(video, 0) + int(n)
            self.missed[video] = self.missed.get(video, 0) + int(state["missed"][video])


class CSIM(IdentityMetric):
    """Cosine similarity of identity embeddings (higher is better)."""

    name = "csim"
    higher_is_better = True

    @staticmethod
    def score(generated: np.ndarray, reference: np.ndarray) -> float:
        return float(np.dot(generated, reference))


class AED(IdentityMetric):
    """Average Euclidean distance of unit-norm identity embeddings (lower is better)."""

    name = "aed"
    higher_is_better = False

    @staticmethod
    def score(generated: np.ndarray, reference: np.ndarray) -> float:
        return float(np.linalg.norm(generated - reference))
