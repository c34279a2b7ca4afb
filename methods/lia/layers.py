"""The StyleGAN2-style layers LIA builds on (wyhsirius/LIA ``networks/encoder.py``, ``styledecoder.py``,
``discriminator.py``, themselves from rosinality/stylegan2-pytorch's pure-PyTorch path): equalised
learning-rate convolutions and linears, the scaled leaky ReLU with a learned bias, FIR blur / up-sampling
(``upfirdn2d``), and the down-sampling residual block of the encoder and the discriminator.

Module and parameter names follow the official ones, so the official checkpoints load strictly; the blur
kernels are persistent buffers there, hence here too.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: ``fused_leaky_relu``'s slope and gain
NEGATIVE_SLOPE = 0.2
ACTIVATION_GAIN = 2 ** 0.5


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``leaky_relu(x + bias, 0.2) * sqrt(2)`` (the official ``fused_leaky_relu``)."""
    return F.leaky_relu(x + bias, NEGATIVE_SLOPE) * ACTIVATION_GAIN


def make_kernel(taps: Sequence[float]) -> torch.Tensor:
    """The separable FIR kernel ``k k^T / sum`` of 1-d ``taps``."""
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Zero-insertion up-sampling by ``up``, padding ``pad`` (before, after) on both axes, FIR filtering with
    ``kernel`` (flipped: a true convolution) per channel, then keeping every ``down``-th sample
    (``upfirdn2d_native``; the pads of every LIA layer are non-negative)."""
    batch, channels, height, width = x.shape
    if up > 1:
        x = F.pad(x.reshape(batch, channels, height, 1, width, 1), [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(batch, channels, height * up, width * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    weight = torch.flip(kernel, [0, 1]).to(x.dtype).expand(channels, 1, *kernel.shape)
    x = F.conv2d(x, weight, groups=channels)
    return x[:, :, ::down, ::down]


class Blur(nn.Module):
    """FIR filter with padding (``kernel`` buffer, scaled by ``upsample_factor ** 2`` after up-sampling)."""

    def __init__(self, taps: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1) -> None:
        super().__init__()
        self.register_buffer("kernel", make_kernel(taps) * upsample_factor ** 2)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x FIR up-sampling (the skip connections of ``ToRGB`` / ``ToFlow``)."""

    def __init__(self, taps: Sequence[float], factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(taps) * factor ** 2)
        p = len(taps) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


def downsample_pad(taps: Sequence[float], kernel_size: int, factor: int = 2) -> tuple[int, int]:
    """Blur padding before a stride-2 convolution of ``kernel_size``."""
    p = (len(taps) - factor) + (kernel_size - 1)
    return (p + 1) // 2, p // 2


class EqualConv2d(nn.Module):
    """Convolution with unit-variance weights scaled by ``1 / sqrt(fan_in)`` at run time."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.stride = stride
        self.padding = padding
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, bias=self.bias, stride=self.stride, padding=self.padding)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (``lr_mul``), optionally followed by the fused leaky ReLU."""

    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.zeros(out_dim).fill_(bias_init))
        self.activation = activation
        self.scale = (1 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, bias=self.bias * self.lr_mul)


class FusedLeakyReLU(nn.Module):
    """Leaky ReLU (0.2) with a learned per-channel bias, times sqrt(2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class ScaledLeakyReLU(nn.Module):
    """Plain leaky ReLU (0.2): the activation of a bias-free ``ConvLayer``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, negative_slope=NEGATIVE_SLOPE)


class ConvLayer(nn.Sequential):
    """[blur, stride-2] equalised convolution, then the fused leaky ReLU (bias in the activation) or, without
    bias, the plain one; ``activate=False`` leaves the convolution's own bias (``bias and not activate``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, downsample: bool = False,
                 taps: Sequence[float] = (1, 3, 3, 1), bias: bool = True, activate: bool = True) -> None:
        layers: list[nn.Module] = []
        if downsample:
            layers.append(Blur(taps, downsample_pad(taps, kernel_size)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channels) if bias else ScaledLeakyReLU())
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Two 3x3 layers (the second down-sampling) plus a blurred stride-2 1x1 skip, summed / sqrt(2)."""

    def __init__(self, in_channels: int, out_channels: int, taps: Sequence[float] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3, taps=taps)
        self.conv2 = ConvLayer(in_channels, out_channels, 3, downsample=True, taps=taps)
        self.skip = ConvLayer(in_channels, out_channels, 1, downsample=True, taps=taps, activate=False, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)
