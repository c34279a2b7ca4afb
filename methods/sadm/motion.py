"""Keypoint-based coarse motion (SADM Eqs. 1-3).

F_K detects K keypoints; the K+1 displacements are ``x_S^i - x_D^i`` plus a zero background
displacement; F_C turns them into K+1 softmax coefficient maps (and, through one extra output
layer, the per-view confidence logit of Eq. 6); the coarse field is sum_i alpha^i Delta^i.
Coordinates are in [-1, 1], x first; fields are ``B x 2 x h x w`` displacements such that
the sampling grid over the source is ``identity + field``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bench.methods.blocks import (Hourglass, deform_sources, heatmap_to_mean, kp2gaussian, make_coordinate_grid,
                                  maybe_downsampler, softmax_heatmap)
from bench.methods.sadm.config import CoefficientNetworkConfig, KeypointDetectorConfig


class KeypointDetector(nn.Module):
    """F_K: hourglass -> K spatial-softmax heatmaps -> expected coordinates ``B x K x 2``."""

    def __init__(self, num_kp: int, num_channels: int, config: KeypointDetectorConfig) -> None:
        super().__init__()
        self.temperature = config.temperature
        self.down = maybe_downsampler(num_channels, config.scale_factor)
        self.predictor = Hourglass(config.block_expansion, num_channels, config.num_blocks, config.max_features)
        self.kp = nn.Conv2d(self.predictor.out_filters, num_kp, kernel_size=7, padding=3)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.down(image) if self.down is not None else image
        heatmap = softmax_heatmap(self.kp(self.predictor(x)), self.temperature)
        return heatmap_to_mean(heatmap)


def keypoint_displacements(kp_source: torch.Tensor, kp_driving: torch.Tensor) -> torch.Tensor:
    """Eq. 2: ``B x (K+1) x 2`` displacements, index 0 the zero background displacement."""
    delta = kp_source - kp_driving
    return torch.cat([torch.zeros_like(delta[:, :1]), delta], dim=1)


def combine_displacements(coefficients: torch.Tensor, displacements: torch.Tensor) -> torch.Tensor:
    """Eq. 3: coarse field ``B x 2 x h x w`` = sum_i alpha^i (``B x (K+1) x h x w``) Delta^i."""
    return torch.einsum("bkhw,bkc->bchw", coefficients, displacements)


def field_to_grid(field: torch.Tensor) -> torch.Tensor:
    """Sampling grid ``B x h x w x 2`` = identity + displacement field ``B x 2 x h x w``."""
    identity = make_coordinate_grid(field.shape[2:], field.dtype, field.device)
    return identity.unsqueeze(0) + field.permute(0, 2, 3, 1)


@dataclass
class CoarseMotion:
    """F_C's outputs for one view: coefficient maps, coarse field, confidence logit (all at F_C's size)."""
    coefficients: torch.Tensor
    field: torch.Tensor
    confidence: torch.Tensor


class CoefficientNetwork(nn.Module):
    """F_C: predicts the K+1 coefficient maps of the coarse field and a confidence logit map.

    Input per view: heatmap differences (driving minus view Gaussians, zero for the
    background) and the view shifted by each of the K+1 displacements.
    """

    def __init__(self, num_kp: int, num_channels: int, config: CoefficientNetworkConfig) -> None:
        super().__init__()
        self.kp_variance = config.kp_variance
        self.down = maybe_downsampler(num_channels, config.scale_factor)
        in_features = (num_kp + 1) * (num_channels + 1)
        self.hourglass = Hourglass(config.block_expansion, in_features, config.num_blocks, config.max_features)
        self.coefficients = nn.Conv2d(self.hourglass.out_filters, num_kp + 1, kernel_size=7, padding=3)
        self.confidence = nn.Conv2d(self.hourglass.out_filters, 1, kernel_size=7, padding=3)

    def forward(self, view: torch.Tensor, kp_view: torch.Tensor, kp_driving: torch.Tensor) -> CoarseMotion:
        x = self.down(view) if self.down is not None else view
        b, _, h, w = x.shape
        size = (h, w)
        heat = kp2gaussian(kp_driving, size, self.kp_variance) - kp2gaussian(kp_view, size, self.kp_variance)
        heat = torch.cat([torch.zeros_like(heat[:, :1]), heat], dim=1)
        displacements = keypoint_displacements(kp_view, kp_driving)
        identity = make_coordinate_grid(size, x.dtype, x.device)
        shifts = identity.view(1, 1, h, w, 2) + displacements.view(b, -1, 1, 1, 2)
        shifted = deform_sources(x, shifts)
        features = self.hourglass(torch.cat([heat.unsqueeze(2), shifted], dim=2).view(b, -1, h, w))
        coefficients = F.softmax(self.coefficients(features), dim=1)
        return CoarseMotion(coefficients, combine_displacements(coefficients, displacements), self.confidence(features))
