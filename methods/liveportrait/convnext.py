"""LivePortrait's motion extractor (M): a ConvNeXt-V2 whose heads give the canonical keypoints, the head pose
(pitch, yaw, roll as 66 bins of 3 degrees), expression deformation, scale and translation, as in the official
``src/modules/motion_extractor.py`` and ``convnextv2.py`` (attribute names kept: ``detector.*``)."""
from __future__ import annotations

import torch
from torch import nn

from bench.methods.liveportrait.config import NUM_BINS, MotionParams

#: epsilon of every ConvNeXt-V2 layer norm
LN_EPS = 1e-6


class ChannelsFirstLayerNorm(nn.Module):
    """Layer norm over the channels of ``B x C x H x W`` (the official ``LayerNorm(data_format='channels_first')``,
    computed as it computes it)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + LN_EPS)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class GRN(nn.Module):
    """Global response normalisation of ConvNeXt-V2 on ``B x H x W x C``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class Block(nn.Module):
    """ConvNeXt-V2 block: depthwise 7x7, layer norm, pointwise MLP with GELU and GRN, residual (no drop path:
    the official rate is 0)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.grn = GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.norm(self.dwconv(x).permute(0, 2, 3, 1))
        out = self.pwconv2(self.grn(self.act(self.pwconv1(out))))
        return x + out.permute(0, 3, 1, 2)


class ConvNeXtV2(nn.Module):
    """The backbone and the seven heads; ``forward`` returns the raw head outputs by their official names."""

    def __init__(self, p: MotionParams, in_chans: int = 3) -> None:
        super().__init__()
        dims = p.dims
        stem = nn.Sequential(nn.Conv2d(in_chans, dims[0], kernel_size=4, stride=4), ChannelsFirstLayerNorm(dims[0]))
        self.downsample_layers = nn.ModuleList([stem])
        for i in range(3):
            self.downsample_layers.append(nn.Sequential(ChannelsFirstLayerNorm(dims[i]),
                                                        nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2)))
        self.stages = nn.ModuleList(nn.Sequential(*[Block(dims[i]) for _ in range(p.depths[i])]) for i in range(4))
        self.norm = nn.LayerNorm(dims[-1], eps=LN_EPS)
        self.fc_kp = nn.Linear(dims[-1], 3 * p.num_kp)
        self.fc_scale = nn.Linear(dims[-1], 1)
        self.fc_pitch = nn.Linear(dims[-1], NUM_BINS)
        self.fc_yaw = nn.Linear(dims[-1], NUM_BINS)
        self.fc_roll = nn.Linear(dims[-1], NUM_BINS)
        self.fc_t = nn.Linear(dims[-1], 3)
        self.fc_exp = nn.Linear(dims[-1], 3 * p.num_kp)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        x = self.norm(x.mean([-2, -1]))
        return {"pitch": self.fc_pitch(x), "yaw": self.fc_yaw(x), "roll": self.fc_roll(x), "t": self.fc_t(x),
                "exp": self.fc_exp(x), "scale": self.fc_scale(x), "kp": self.fc_kp(x)}


class MotionExtractor(nn.Module):
    """M: the ConvNeXt-V2 under the official attribute name ``detector``."""

    def __init__(self, p: MotionParams) -> None:
        super().__init__()
        self.detector = ConvNeXtV2(p)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.detector(x)


__all__ = ["ChannelsFirstLayerNorm", "ConvNeXtV2", "GRN", "MotionExtractor"]
