"""Self-appearance-aided generation with multi-view fusion (SADM Eqs. 5 and 6).

F_G encodes each view, warps its features by the view's dense field, re-warps them with the
self-appearance flow predicted by F_A, fuses the views with per-pixel confidence weights that
sum to one, and decodes the concatenation [motion-warped, appearance-warped] to an image.
"""
from __future__ import annotations

import torch
from torch import nn

from bench.methods.blocks import DownBlock2d, Hourglass, ResBlock2d, SameBlock2d, UpBlock2d, warp
from bench.methods.sadm.config import AppearanceFlowConfig, GeneratorConfig
from bench.methods.sadm.motion import field_to_grid


def normalize_confidence(logits: torch.Tensor) -> torch.Tensor:
    """``B x V x h x w`` confidence logits -> weights C~ that are positive and sum to one over views."""
    return torch.softmax(logits, dim=1)


def fuse_views(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Eq. 6: sum_j C~^(j) F^(j) for ``B x V x C x h x w`` features and ``B x V x h x w`` weights."""
    return (features * weights.unsqueeze(2)).sum(dim=1)


class AppearanceFlow(nn.Module):
    """F_A: predicts the self-appearance flow (a displacement field) from motion-warped features.

    The flow head starts at zero, so F_A starts as the identity re-warp.
    """

    def __init__(self, in_features: int, config: AppearanceFlowConfig) -> None:
        super().__init__()
        self.hourglass = Hourglass(config.block_expansion, in_features, config.num_blocks, config.max_features)
        self.flow = nn.Conv2d(self.hourglass.out_filters, 2, kernel_size=7, padding=3)
        nn.init.zeros_(self.flow.weight)
        nn.init.zeros_(self.flow.bias)

    def forward(self, warped: torch.Tensor) -> torch.Tensor:
        """Eq. 5: F_App = T_App o F~_SD."""
        return warp(warped, field_to_grid(self.flow(self.hourglass(warped))))


def _width(config: GeneratorConfig, level: int) -> int:
    return min(config.max_features, config.block_expansion * 2 ** level)


class Generator(nn.Module):
    """F_G. Without appearance assistance the decoder's fusion layer takes only the motion-warped
    features (half the input width) instead of being fed zeros."""

    def __init__(self, num_channels: int, config: GeneratorConfig,
                 appearance_flow: AppearanceFlowConfig | None) -> None:
        super().__init__()
        self.first = SameBlock2d(num_channels, config.block_expansion, kernel_size=7, padding=3)
        self.down_blocks = nn.ModuleList(
            DownBlock2d(_width(config, i), _width(config, i + 1)) for i in range(config.num_down_blocks))
        width = _width(config, config.num_down_blocks)
        self.appearance = AppearanceFlow(width, appearance_flow) if appearance_flow is not None else None
        self.fuse = SameBlock2d(width * (2 if self.appearance is not None else 1), width)
        self.bottleneck = nn.Sequential(*(ResBlock2d(width) for _ in range(config.num_bottleneck_blocks)))
        self.up_blocks = nn.ModuleList(
            UpBlock2d(_width(config, i + 1), _width(config, i)) for i in reversed(range(config.num_down_blocks)))
        self.final = nn.Conv2d(config.block_expansion, num_channels, kernel_size=7, padding=3)

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """F_S: features of a view at 1 / 2^num_down_blocks resolution."""
        x = self.first(image)
        for block in self.down_blocks:
            x = block(x)
        return x

    def warp_features(self, features: torch.Tensor, field: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(F~_SD, F_App): features warped by the dense field, and re-warped by F_A (None when off)."""
        warped = warp(features, field_to_grid(field))
        return warped, (self.appearance(warped) if self.appearance is not None else None)

    def decode(self, warped: torch.Tensor, appearance: torch.Tensor | None) -> torch.Tensor:
        """Image in [0, 1] from the fused motion-warped (and appearance-warped) features."""
        x = warped if appearance is None else torch.cat([warped, appearance], dim=1)
        x = self.bottleneck(self.fuse(x))
        for block in self.up_blocks:
            x = block(x)
        return torch.sigmoid(self.final(x))
