"""LIA's generator (wyhsirius/LIA ``networks/generator.py``, ``encoder.py``, ``styledecoder.py``).

* :class:`Encoder`: ``net_app`` (``EncoderApp``) maps an image to a latent code ``w`` and a feature pyramid;
  ``fc`` (five equalised linears) maps a latent code to the ``latent_dim_motion`` magnitudes ``alpha``.
* :class:`Direction`: the learned motion dictionary, orthonormalised by a (reduced) QR decomposition at
  every call; a motion is ``sum_k alpha_k q_k``.
* :class:`Synthesis`: a StyleGAN2 decoder driven by one latent ``z = w_source + motion``; at each level a
  :class:`ToFlow` predicts a flow and a mask that warp the source feature of that level into the decoder,
  and a :class:`ToRGB` accumulates the image from the warped features.

The official ``ToFlow`` builds its sampling grid with numpy and moves it to the GPU with ``.cuda()``; here the
same grid is made on the input's device.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.methods.lia.config import BLUR_KERNEL, LIAConfig
from bench.methods.lia.layers import (Blur, ConvLayer, EqualConv2d, EqualLinear, FusedLeakyReLU, ResBlock,
                                      Upsample)

Features = list[torch.Tensor]
#: ``fc`` of the official ``Encoder``: four style-to-style linears, then style-to-motion
MOTION_MLP_DEPTH = 4


class EncoderApp(nn.Module):
    """1x1 convolution, residual down-sampling blocks to 4x4, then a 4x4 convolution to the latent code.

    Returns the code ``B x latent_dim_style`` and the features of every level from 8x8 up to ``size``
    (the official ``res[::-1][2:]``), coarsest first."""

    def __init__(self, config: LIAConfig) -> None:
        super().__init__()
        width = {r: config.channels(r, multiplied=False) for r in (2 ** i for i in range(2, config.log_size + 1))}
        self.convs = nn.ModuleList([ConvLayer(3, width[config.size], 1)])
        for level in range(config.log_size, 2, -1):
            self.convs.append(ResBlock(width[2 ** level], width[2 ** (level - 1)], BLUR_KERNEL))
        self.convs.append(EqualConv2d(width[4], config.latent_dim_style, 4, padding=0, bias=False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Features]:
        outputs = []
        for conv in self.convs:
            x = conv(x)
            outputs.append(x)
        return outputs[-1].squeeze(-1).squeeze(-1), outputs[::-1][2:]


class Encoder(nn.Module):
    """``net_app`` (appearance: latent code and features) and ``fc`` (latent code -> motion magnitudes)."""

    def __init__(self, config: LIAConfig) -> None:
        super().__init__()
        dim = config.latent_dim_style
        self.net_app = EncoderApp(config)
        self.fc = nn.Sequential(*[EqualLinear(dim, dim) for _ in range(MOTION_MLP_DEPTH)],
                                EqualLinear(dim, config.latent_dim_motion))

    def motion(self, x: torch.Tensor) -> torch.Tensor:
        """``enc_motion``: the motion magnitudes ``alpha`` of an image."""
        return self.fc(self.net_app(x)[0])


class ModulatedConv2d(nn.Module):
    """Convolution whose weight is scaled per input channel by an affine map of the style (then
    demodulated); the up-sampling variant is a stride-2 transposed convolution followed by a blur."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, upsample: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.upsample = upsample
        if upsample:
            factor = 2
            p = (len(BLUR_KERNEL) - factor) - (kernel_size - 1)
            self.blur = Blur(BLUR_KERNEL, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.scale = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1)
        self.demodulate = demodulate

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        batch, in_channels, height, width = x.shape
        k, out_channels = self.kernel_size, self.out_channels
        weight = self.scale * self.weight * self.modulation(style).view(batch, 1, in_channels, 1, 1)
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8)
            weight = weight * demod.view(batch, out_channels, 1, 1, 1)
        x = x.reshape(1, batch * in_channels, height, width)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(batch * in_channels, out_channels, k, k)
            out = F.conv_transpose2d(x, weight, padding=0, stride=2, groups=batch)
            return self.blur(out.view(batch, out_channels, *out.shape[-2:]))
        out = F.conv2d(x, weight.reshape(batch * out_channels, in_channels, k, k), padding=self.padding, groups=batch)
        return out.view(batch, out_channels, *out.shape[-2:])


class NoiseInjection(nn.Module):
    """StyleGAN2's noise input; LIA never passes noise, so only its (unused) weight remains."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))


class ConstantInput(nn.Module):
    """The learned 4x4 input of the decoder, repeated over the batch."""

    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.repeat(batch, 1, 1, 1)


class StyledConv(nn.Module):
    """Modulated convolution, (no) noise, fused leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int, upsample: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.activate(self.conv(x, style))


class ToRGB(nn.Module):
    """1x1 ``ConvLayer`` (with its leaky ReLU, as the official) plus a bias, plus the up-sampled skip image."""

    def __init__(self, in_channels: int, upsample: bool = True) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(BLUR_KERNEL)
        self.conv = ConvLayer(in_channels, 3, 1)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x) + self.bias
        return out if skip is None else out + self.upsample(skip)


def identity_grid(size: int, like: torch.Tensor) -> torch.Tensor:
    """``1 x size x size x 2`` grid (x, y) of ``np.linspace(-1, 1, size)`` (the official float64 grid, cast)."""
    xs = np.linspace(-1, 1, size)
    grid = np.stack(np.meshgrid(xs, xs), 2)
    return torch.from_numpy(grid).float().to(device=like.device, dtype=like.dtype).unsqueeze(0)


class ToFlow(nn.Module):
    """Modulated 1x1 convolution (no demodulation) to a flow offset (tanh) and a mask (sigmoid), plus the
    up-sampled output of the level below; the source feature is warped (``grid_sample``, bilinear, zero
    padding, ``align_corners=False``) and masked, and blended into the decoder feature."""

    def __init__(self, in_channels: int, style_dim: int, init_gain: float = 1.0) -> None:
        super().__init__()
        self.upsample = Upsample(BLUR_KERNEL)
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, demodulate=False)
        if init_gain != 1.0:
            with torch.no_grad():
                self.conv.weight.mul_(init_gain)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, feature: torch.Tensor,
                skip: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(warped source feature, decoder feature after blending, flow/mask logits for the next level)."""
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        mask = torch.sigmoid(out[:, 2:3])
        flow = torch.tanh(out[:, 0:2]).permute(0, 2, 3, 1) + identity_grid(x.shape[2], out)
        warped = F.grid_sample(feature, flow, mode="bilinear", padding_mode="zeros", align_corners=False) * mask
        return warped, warped + x * (1.0 - mask), out


class Direction(nn.Module):
    """The motion dictionary: ``weight`` (``latent_dim_style x latent_dim_motion``), orthonormalised by
    ``QR(weight + 1e-8)`` (the official ``torch.qr``, i.e. the reduced ``torch.linalg.qr``)."""

    def __init__(self, style_dim: int, motion_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(style_dim, motion_dim))

    def basis(self) -> torch.Tensor:
        """The orthonormal directions ``Q`` (columns)."""
        return torch.linalg.qr(self.weight + 1e-8, mode="reduced")[0]

    def forward(self, alpha: torch.Tensor, basis: torch.Tensor | None = None) -> torch.Tensor:
        """``sum_k alpha_k q_k`` for magnitudes ``B x motion_dim``."""
        q = self.basis() if basis is None else basis
        return (alpha.unsqueeze(-1) * q.t()).sum(1)


class Synthesis(nn.Module):
    """The flow-warping StyleGAN2 decoder (``styledecoder.Synthesis``)."""

    def __init__(self, config: LIAConfig) -> None:
        super().__init__()
        style = config.latent_dim_style
        width = {r: config.channels(r) for r in (2 ** i for i in range(2, config.log_size + 1))}
        self.direction = Direction(style, config.latent_dim_motion)
        self.input = ConstantInput(width[4])
        self.conv1 = StyledConv(width[4], width[4], style)
        self.to_rgb1 = ToRGB(width[4], upsample=False)  # built (and saved) by the official code, never used
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.to_flows = nn.ModuleList()
        in_channels = width[4]
        for level in range(3, config.log_size + 1):
            out_channels = width[2 ** level]
            self.convs.append(StyledConv(in_channels, out_channels, style, upsample=True))
            self.convs.append(StyledConv(out_channels, out_channels, style))
            self.to_rgbs.append(ToRGB(out_channels))
            self.to_flows.append(ToFlow(out_channels, style, config.flow_init_gain))
            in_channels = out_channels

    def forward(self, latent: torch.Tensor, features: Features) -> torch.Tensor:
        """The image (about [-1, 1], not clamped) of ``latent`` (``B x latent_dim_style``, the same style at
        every layer) with the source ``features`` (8x8 first)."""
        out = self.conv1(self.input(latent.shape[0]), latent)
        image = flow = None
        levels = zip(self.convs[::2], self.convs[1::2], self.to_rgbs, self.to_flows, features)
        for conv_up, conv, to_rgb, to_flow, feature in levels:
            out = conv(conv_up(out, latent), latent)
            warped, out, flow = to_flow(out, latent, feature, flow)
            image = to_rgb(warped, image)
        return image


class Generator(nn.Module):
    """``enc`` and ``dec`` (the official ``Generator``'s two parts, its checkpoint key names)."""

    def __init__(self, config: LIAConfig) -> None:
        super().__init__()
        self.enc = Encoder(config)
        self.dec = Synthesis(config)
