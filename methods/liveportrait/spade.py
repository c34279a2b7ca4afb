"""LivePortrait's SPADE decoder (G): the warped feature decoded into the image, twice its size per upsampling
and once more by a pixel shuffle (official ``src/modules/spade_generator.py`` and ``util.SPADE*``).

The residual blocks' convolutions are spectral-normalised with ``torch.nn.utils.spectral_norm`` as in the official
code (state-dict keys ``weight_orig``, ``weight_u``, ``weight_v``): in eval mode the stored vectors give sigma.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from bench.methods.liveportrait.config import SpadeParams

#: hidden width of every SPADE modulation (fixed in the official ``util.SPADE``)
SPADE_HIDDEN = 128
#: residual blocks at the input resolution (``G_middle_0`` .. ``G_middle_5``)
MIDDLE_BLOCKS = 6


class SPADE(nn.Module):
    """Parameter-free instance norm, then a per-pixel scale and shift predicted from the segmentation map."""

    def __init__(self, norm_nc: int, label_nc: int) -> None:
        super().__init__()
        self.param_free_norm = nn.InstanceNorm2d(norm_nc, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, SPADE_HIDDEN, kernel_size=3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(SPADE_HIDDEN, norm_nc, kernel_size=3, padding=1)
        self.mlp_beta = nn.Conv2d(SPADE_HIDDEN, norm_nc, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        normalized = self.param_free_norm(x)
        actv = self.mlp_shared(F.interpolate(segmap, size=x.shape[2:], mode="nearest"))
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    """Two SPADE-LeakyReLU-conv steps plus a (learned, when the width changes) shortcut."""

    def __init__(self, fin: int, fout: int, label_nc: int) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = spectral_norm(nn.Conv2d(fin, fmiddle, kernel_size=3, padding=1))
        self.conv_1 = spectral_norm(nn.Conv2d(fmiddle, fout, kernel_size=3, padding=1))
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, kernel_size=1, bias=False))
        self.norm_0 = SPADE(fin, label_nc)
        self.norm_1 = SPADE(fmiddle, label_nc)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, label_nc)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 2e-1))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 2e-1))
        return x_s + dx


class SPADEDecoder(nn.Module):
    """G: warped feature ``B x C x H x W`` -> image ``B x 3 x 4H x 4W`` (``8H x 8W`` with ``upscale`` 2) in [0, 1]."""

    def __init__(self, p: SpadeParams) -> None:
        super().__init__()
        width = min(p.max_features, p.block_expansion * 2 ** p.num_down_blocks)
        self.fc = nn.Conv2d(width, 2 * width, kernel_size=3, padding=1)
        for i in range(MIDDLE_BLOCKS):
            setattr(self, f"G_middle_{i}", SPADEResnetBlock(2 * width, 2 * width, width))
        self.up_0 = SPADEResnetBlock(2 * width, width, width)
        self.up_1 = SPADEResnetBlock(width, p.out_channels, width)
        self.up = nn.Upsample(scale_factor=2)
        if p.upscale > 1:
            self.conv_img = nn.Sequential(nn.Conv2d(p.out_channels, 3 * 4, kernel_size=3, padding=1),
                                          nn.PixelShuffle(upscale_factor=2))
        else:
            self.conv_img = nn.Conv2d(p.out_channels, 3, kernel_size=3, padding=1)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        x = self.fc(feature)
        for i in range(MIDDLE_BLOCKS):
            x = getattr(self, f"G_middle_{i}")(x, feature)
        x = self.up_1(self.up(self.up_0(self.up(x), feature)), feature)
        return torch.sigmoid(self.conv_img(F.leaky_relu(x, 2e-1)))
