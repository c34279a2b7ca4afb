"""Helpers FOMM and MRAA share: the perceptual loss term (kept out of the model state), random
equivariance transforms, and broadcasting one source over a batch."""
from __future__ import annotations

import torch

from bench.methods.losses import PerceptualLoss, RandomTransform


class PerceptualTerm:
    """Lazily built VGG-19 multi-scale perceptual loss, kept out of the method's parameters and
    ``state_dict`` (it is frozen and not part of the checkpoint)."""

    def __init__(self, scales: list[float], layer_weights: list[float], pretrained: bool) -> None:
        self.scales = scales
        self.layer_weights = layer_weights
        self.pretrained = pretrained
        self._loss: PerceptualLoss | None = None

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self._loss is None:
            self._loss = PerceptualLoss(self.scales, self.layer_weights, pretrained=self.pretrained)
        self._loss = self._loss.to(device=prediction.device, dtype=prediction.dtype)
        return self._loss(prediction, target)


def random_transform(like: torch.Tensor, sigma_affine: float, sigma_tps: float, points_tps: int) -> RandomTransform:
    """A per-sample random affine+TPS transform on the device and dtype of ``like``."""
    return RandomTransform(like.shape[0], sigma_affine, sigma_tps, points_tps, device=like.device, dtype=like.dtype)


def match_batch(source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
    """Broadcast a single source image over a batch of driving frames."""
    if source.shape[0] == 1 and driving.shape[0] > 1:
        return source.expand(driving.shape[0], *source.shape[1:])
    return source
