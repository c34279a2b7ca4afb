"""Building blocks shared by FOMM, MRAA and SADM.

Module and attribute names follow the official FOMM / MRAA code (``conv``, ``norm``,
``down_blocks``, ``up_blocks``, ``weight`` ...) so that published checkpoints load with
``strict=True``. Coordinates live in [-1, 1] with x first, as ``grid_sample`` expects.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

# The official code calls grid_sample / interpolate without align_corners, i.e. with
# PyTorch's default (False) since 1.3; the checkpoints were trained and the fixtures made so.
ALIGN_CORNERS = False


# ----------------------------------------------------------------------------- pure math

def make_coordinate_grid(spatial_size: tuple[int, ...], dtype: torch.dtype = torch.float32,
                         device: torch.device | str | None = None) -> torch.Tensor:
    """``H x W x 2`` grid of (x, y) pixel-centre coordinates spanning [-1, 1] (corners included); for a
    ``(D, H, W)`` size the ``D x H x W x 3`` grid of (x, y, z) (LivePortrait's feature volumes)."""
    axes = [2 * (torch.arange(n, dtype=dtype, device=device) / (n - 1)) - 1 for n in spatial_size]
    return torch.stack(torch.meshgrid(*axes, indexing="ij")[::-1], dim=-1)


def kp2gaussian(mean: torch.Tensor, spatial_size: tuple[int, ...], variance: float) -> torch.Tensor:
    """Isotropic Gaussian heatmaps ``... x H x W`` centred at keypoints ``mean`` (``... x 2``); with a
    ``(D, H, W)`` size, ``... x D x H x W`` heatmaps of ``... x 3`` keypoints."""
    grid = make_coordinate_grid(spatial_size, mean.dtype, mean.device)
    lead = mean.shape[:-1]
    diff = grid.view((1,) * len(lead) + grid.shape) - mean.view(*lead, *(1,) * len(spatial_size), mean.shape[-1])
    return torch.exp(-0.5 * (diff ** 2).sum(-1) / variance)


def region2gaussian(mean: torch.Tensor, covar: torch.Tensor | float, spatial_size: tuple[int, int]) -> torch.Tensor:
    """Gaussian heatmaps with full covariance ``covar`` (``... x 2 x 2``) or a scalar variance."""
    if not torch.is_tensor(covar):
        return kp2gaussian(mean, spatial_size, float(covar))
    grid = make_coordinate_grid(spatial_size, mean.dtype, mean.device)
    lead = mean.shape[:-1]
    diff = grid.view((1,) * len(lead) + grid.shape) - mean.view(*lead, 1, 1, 2)
    inv = torch.inverse(covar).view(*lead, 1, 1, 2, 2)
    under_exp = torch.matmul(torch.matmul(diff.unsqueeze(-2), inv), diff.unsqueeze(-1))
    return torch.exp(-0.5 * under_exp.sum(dim=(-1, -2)))


def heatmap_to_mean(heatmap: torch.Tensor) -> torch.Tensor:
    """Expected coordinate ``B x K x 2`` of normalised heatmaps ``B x K x H x W``."""
    grid = make_coordinate_grid(heatmap.shape[2:], heatmap.dtype, heatmap.device)
    return (heatmap.unsqueeze(-1) * grid).sum(dim=(2, 3))


def softmax_heatmap(prediction: torch.Tensor, temperature: float) -> torch.Tensor:
    """Spatial softmax of ``B x K x H x W`` logits at ``temperature``."""
    b, k, h, w = prediction.shape
    return F.softmax(prediction.view(b, k, -1) / temperature, dim=2).view(b, k, h, w)


def heatmap_weighted_matrices(heatmap: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """Per-keypoint 2x2 matrices: ``maps`` (``B x M x 4 x H x W``, M = K or 1) averaged under ``heatmap``."""
    b, k = heatmap.shape[:2]
    return (heatmap.unsqueeze(2) * maps).view(b, k, 4, -1).sum(-1).view(b, k, 2, 2)


def resize_grid(grid: torch.Tensor, size: tuple[int, int], align_corners: bool = ALIGN_CORNERS) -> torch.Tensor:
    """Bilinearly resize a ``B x h x w x 2`` sampling grid to ``B x H x W x 2`` (no-op when equal)."""
    if tuple(grid.shape[1:3]) == tuple(size):
        return grid
    out = F.interpolate(grid.permute(0, 3, 1, 2), size=size, mode="bilinear", align_corners=align_corners)
    return out.permute(0, 2, 3, 1)


def warp(features: torch.Tensor, grid: torch.Tensor, align_corners: bool = ALIGN_CORNERS) -> torch.Tensor:
    """Backward-warp ``features`` (``B x C x H x W``) by a sampling ``grid`` (resized to the features).
    ``align_corners``: FOMM/MRAA sample with PyTorch's default (False), TPSMM with True."""
    grid = resize_grid(grid, features.shape[2:], align_corners)
    return F.grid_sample(features, grid, align_corners=align_corners)


def resize_like(x: torch.Tensor, ref: torch.Tensor, align_corners: bool = ALIGN_CORNERS) -> torch.Tensor:
    """Bilinearly resize map ``x`` to the spatial size of ``ref`` (no-op when equal)."""
    if x.shape[2:] == ref.shape[2:]:
        return x
    return F.interpolate(x, size=ref.shape[2:], mode="bilinear", align_corners=align_corners)


def local_affine_motions(identity: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor,
                         jacobian: torch.Tensor | None) -> torch.Tensor:
    """First-order motions ``B x K x H x W x 2``: z -> kp_s + J (z - kp_d) for each keypoint.

    ``identity`` is an ``H x W x 2`` coordinate grid, ``jacobian`` ``B x K x 2 x 2`` (``J_s J_d^-1``)
    or None for pure translation.
    """
    b, k = kp_driving.shape[:2]
    diff = identity.view(1, 1, *identity.shape) - kp_driving.view(b, k, 1, 1, 2)
    if jacobian is not None:
        diff = torch.matmul(jacobian.view(b, k, 1, 1, 2, 2), diff.unsqueeze(-1)).squeeze(-1)
    return diff + kp_source.view(b, k, 1, 1, 2)


def source_to_driving_jacobian(jac_source: torch.Tensor, jac_driving: torch.Tensor) -> torch.Tensor:
    """``J_s J_d^{-1}``: the local linear map from driving to source coordinates."""
    return torch.matmul(jac_source, torch.inverse(jac_driving))


def to_homogeneous(coords: torch.Tensor) -> torch.Tensor:
    return torch.cat([coords, torch.ones_like(coords[..., :1])], dim=-1)


def from_homogeneous(coords: torch.Tensor) -> torch.Tensor:
    return coords[..., :2] / coords[..., 2:3]


def deform_sources(image: torch.Tensor, motions: torch.Tensor, align_corners: bool = ALIGN_CORNERS) -> torch.Tensor:
    """Warp ``image`` (``B x C x H x W``) by each of K motions (``B x K x H x W x 2``) -> ``B x K x C x H x W``."""
    b, c, h, w = image.shape
    k = motions.shape[1]
    repeated = image.unsqueeze(1).expand(b, k, c, h, w).reshape(b * k, c, h, w)
    out = F.grid_sample(repeated, motions.reshape(b * k, h, w, 2), align_corners=align_corners)
    return out.view(b, k, c, h, w)


def combine_motions(motions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Dense field ``B x H x W x 2`` as the ``mask``-weighted (``B x K x H x W``) sum of ``motions``."""
    return (motions * mask.unsqueeze(-1)).sum(dim=1)


# ----------------------------------------------------------------------------- modules

class ResBlock2d(nn.Module):
    """Pre-activation residual block (BN-ReLU-conv twice) keeping resolution and channels."""

    #: layer types of this block and the two below (LivePortrait's volume blocks: Conv3d, BatchNorm3d)
    conv_layer: type[nn.Module] = nn.Conv2d
    norm_layer: type[nn.Module] = nn.BatchNorm2d

    def __init__(self, in_features: int, kernel_size: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.conv1 = self.conv_layer(in_features, in_features, kernel_size, padding=padding)
        self.conv2 = self.conv_layer(in_features, in_features, kernel_size, padding=padding)
        self.norm1 = self.norm_layer(in_features, affine=True)
        self.norm2 = self.norm_layer(in_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class ConvNormBlock(nn.Module):
    """A convolution and its BatchNorm (official names ``conv``, ``norm``): what the up, down and same-resolution
    blocks share; each subclass says where the resampling goes in :meth:`forward`."""

    conv_layer, norm_layer = ResBlock2d.conv_layer, ResBlock2d.norm_layer

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1,
                 groups: int = 1) -> None:
        super().__init__()
        self.conv = self.conv_layer(in_features, out_features, kernel_size, padding=padding, groups=groups)
        self.norm = self.norm_layer(out_features, affine=True)

    def conv_norm_relu(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class UpBlock2d(ConvNormBlock):
    """Nearest 2x upsampling, then conv-BN-ReLU."""

    #: upsampling factor (per spatial dimension)
    scale: int | tuple[int, ...] = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_norm_relu(F.interpolate(x, scale_factor=self.scale))


class DownBlock2d(ConvNormBlock):
    """Conv-BN-ReLU, then 2x average pooling."""

    #: average pooling and its window (per spatial dimension)
    pool, window = staticmethod(F.avg_pool2d), 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv_norm_relu(x), kernel_size=self.window)


class SameBlock2d(ConvNormBlock):
    """Conv-BN-ReLU at constant resolution."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_norm_relu(x)


class GeneratorTrunk(nn.Module):
    """Encoder, residual bottleneck and decoder of the FOMM and MRAA generators.

    Attributes carry the official names (``first``, ``down_blocks``, ``bottleneck.r<i>``,
    ``up_blocks``, ``final``) so that published checkpoints load into subclasses unchanged.
    """

    def __init__(self, num_channels: int, block_expansion: int, max_features: int, num_down_blocks: int,
                 num_bottleneck_blocks: int) -> None:
        super().__init__()
        width = [min(max_features, block_expansion * 2 ** i) for i in range(num_down_blocks + 1)]
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=7, padding=3)
        self.down_blocks = nn.ModuleList(DownBlock2d(width[i], width[i + 1]) for i in range(num_down_blocks))
        self.up_blocks = nn.ModuleList(UpBlock2d(width[i + 1], width[i]) for i in reversed(range(num_down_blocks)))
        self.bottleneck = nn.Sequential()
        for i in range(num_bottleneck_blocks):
            self.bottleneck.add_module(f"r{i}", ResBlock2d(width[-1], kernel_size=3, padding=1))
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=7, padding=3)


def _width(block_expansion: int, level: int, max_features: int) -> int:
    return min(max_features, block_expansion * (2 ** level))


class Encoder(nn.Module):
    """Hourglass encoder: ``num_blocks`` DownBlock2d (or ``block``, e.g. LivePortrait's 3-D one); returns the
    input and every level's output."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256,
                 block: Callable[[int, int], nn.Module] = DownBlock2d) -> None:
        super().__init__()
        self.down_blocks = nn.ModuleList(
            block(in_features if i == 0 else _width(block_expansion, i, max_features),
                        _width(block_expansion, i + 1, max_features))
            for i in range(num_blocks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Module):
    """Hourglass decoder: UpBlock2d (or ``block``) per level, each output concatenated with the encoder skip."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256,
                 block: Callable[[int, int], nn.Module] = UpBlock2d) -> None:
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            factor = 1 if i == num_blocks - 1 else 2
            blocks.append(block(factor * _width(block_expansion, i + 1, max_features),
                                    _width(block_expansion, i, max_features)))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        skips = list(features)
        out = skips.pop()
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return out


class Hourglass(nn.Module):
    """U-Net style encoder-decoder; output has ``out_filters = block_expansion + in_features`` channels."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256) -> None:
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class AntiAliasInterpolation2d(nn.Module):
    """Gaussian blur then subsampling by ``1/scale`` (an integer), to downscale without aliasing."""

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        sigma = (1 / scale - 1) / 2
        size = 2 * round(sigma * 4) + 1
        self.ka = size // 2
        self.kb = self.ka - 1 if size % 2 == 0 else self.ka
        axis = torch.arange(size, dtype=torch.float32)
        g = torch.exp(-((axis - (size - 1) / 2) ** 2) / (2 * sigma ** 2))
        kernel = g[:, None] * g[None, :]
        kernel = kernel / kernel.sum()
        self.register_buffer("weight", kernel.view(1, 1, size, size).repeat(channels, 1, 1, 1))
        self.groups = channels
        self.scale = scale
        self.step = int(round(1 / scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1.0:
            return x
        out = F.pad(x, (self.ka, self.kb, self.ka, self.kb))
        out = F.conv2d(out, weight=self.weight.to(x.dtype), groups=self.groups)
        return out[:, :, ::self.step, ::self.step]


def maybe_downsampler(channels: int, scale: float) -> AntiAliasInterpolation2d | None:
    """An anti-aliased downsampler, or None when ``scale`` is 1 (so no ``down`` key is created)."""
    return None if scale == 1 else AntiAliasInterpolation2d(channels, scale)


__all__ = [
    "ALIGN_CORNERS", "AntiAliasInterpolation2d", "Decoder", "DownBlock2d", "Encoder", "Hourglass",
    "ResBlock2d", "SameBlock2d", "UpBlock2d", "combine_motions", "deform_sources", "from_homogeneous",
    "heatmap_to_mean", "heatmap_weighted_matrices", "kp2gaussian", "local_affine_motions",
    "make_coordinate_grid", "maybe_downsampler", "region2gaussian", "resize_grid", "resize_like",
    "softmax_heatmap", "source_to_driving_jacobian", "to_homogeneous", "warp",
]


def once_per_source(fn: Callable[[torch.Tensor], Any], source: torch.Tensor, flat_keys: tuple[str, ...] = ()) -> Any:
    """``fn(source)`` for a batch that repeats one source image (batch 1, or broadcast with stride 0,
    as in evaluation) computed on that one image and broadcast back: what depends on the source
    alone (its keypoints, its encoding) is computed once per batch, as the official reconstruction
    and demo scripts compute it once per video. Other batches are passed through whole.

    ``flat_keys``: entries of a returned mapping whose first dimension is batch x something
    (MRAA keeps its SVD factors flattened that way); they are tiled instead of broadcast.
    """
    batch = source.shape[0]
    if batch > 1 and source.stride(0) != 0:
        return fn(source)
    return _broadcast(fn(source[:1]), batch, flat_keys)


def _broadcast(value: Any, batch: int, flat_keys: tuple[str, ...] = ()) -> Any:
    if isinstance(value, torch.Tensor):
        return value.expand(batch, *value.shape[1:])
    if isinstance(value, Mapping):
        return {k: v.repeat(batch, *(1,) * (v.dim() - 1)) if k in flat_keys else _broadcast(v, batch, flat_keys)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_broadcast(v, batch, flat_keys) for v in value)
    return value


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear-BN-ReLU stack ending in a plain Linear (the layer indices of MRAA's and TPSMM's official
    AVD networks, so their checkpoint keys load)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)
