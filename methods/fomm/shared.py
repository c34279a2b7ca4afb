"""Helpers FOMM and MRAA share: their training losses (perceptual reconstruction, optional pixel
L1, equivariance of the motion representation under a random transform), the perceptual loss
term (kept out of the model state) and broadcasting one source over a batch."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import torch

from bench.methods.losses import (PerceptualLoss, RandomTransform, jacobian_equivariance_loss,
                                  keypoint_equivariance_loss, pixel_l1_loss)


class PerceptualTerm:
    """Lazily built VGG-19 multi-scale perceptual loss, kept out of the method's parameters and
    ``state_dict`` (it is frozen and not part of the checkpoint)."""

    def __init__(self, scales: list[float], layer_weights: list[float], pretrained: bool,
                 signed_input: bool = False) -> None:
        self.scales = scales
        self.layer_weights = layer_weights
        self.pretrained = pretrained
        self.signed_input = signed_input
        self._loss: PerceptualLoss | None = None

    def module(self) -> PerceptualLoss:
        """The loss module (built on first use)."""
        if self._loss is None:
            self._loss = PerceptualLoss(self.scales, self.layer_weights, pretrained=self.pretrained,
                                        signed_input=self.signed_input)
        return self._loss

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self._loss = self.module().to(device=prediction.device, dtype=prediction.dtype)
        return self._loss(prediction, target)


def random_transform(like: torch.Tensor, sigma_affine: float, sigma_tps: float, points_tps: int) -> RandomTransform:
    """A per-sample random affine+TPS transform on the device and dtype of ``like``."""
    return RandomTransform(like.shape[0], sigma_affine, sigma_tps, points_tps, device=like.device, dtype=like.dtype)


def match_batch(source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
    """Broadcast a single source image over a batch of driving frames."""
    if source.shape[0] == 1 and driving.shape[0] > 1:
        return source.expand(driving.shape[0], *source.shape[1:])
    return source


@dataclasses.dataclass(frozen=True)
class EquivarianceTerms:
    """How a keypoint / region method names its two equivariance terms (official loss names, e.g.
    ``equivariance_value`` / ``equivariance_jacobian``) and the motion entries they constrain
    (``value`` / ``jacobian``; MRAA: ``shift`` / ``affine`` with ``axis_sign``)."""

    value: str
    jacobian: str
    value_key: str
    jacobian_key: str
    axis_sign: bool = False


def motion_model_losses(weights: Any, terms: EquivarianceTerms, perceptual: PerceptualTerm,
                        detect: Callable[[torch.Tensor], Mapping[str, torch.Tensor]], prediction: torch.Tensor,
                        driving: torch.Tensor, motion: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The FOMM / MRAA training losses, each already weighted (official ``train.py`` terms).

    ``weights`` is the method's loss config (``pixel_l1``, ``transform_params`` and the two
    equivariance weights named by ``terms``); ``motion`` is the driving frames' keypoints or
    regions, ``detect`` recomputes them on the transformed frames.
    """
    out = {"perceptual": perceptual(prediction, driving)}
    if weights.pixel_l1:
        out["pixel_l1"] = pixel_l1_loss(prediction, driving, weights.pixel_l1)
    w_value, w_jacobian = getattr(weights, terms.value), getattr(weights, terms.jacobian)
    if w_value or w_jacobian:
        transform = random_transform(driving, **dataclasses.asdict(weights.transform_params))
        transformed = detect(transform.transform_frame(driving))
        if w_value:
            out[terms.value] = w_value * keypoint_equivariance_loss(
                motion[terms.value_key], transformed[terms.value_key], transform)
        if w_jacobian and terms.jacobian_key in motion:
            out[terms.jacobian] = w_jacobian * jacobian_equivariance_loss(
                motion[terms.jacobian_key], transformed[terms.jacobian_key], transformed[terms.value_key], transform,
                terms.axis_sign)
    return out
