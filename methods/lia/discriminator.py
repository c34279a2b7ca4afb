"""LIA's adversarial training: the StyleGAN2 discriminator of wyhsirius/LIA ``networks/discriminator.py`` and
the non-saturating losses of ``trainer.py`` (``g_nonsaturating_loss``, ``d_nonsaturating_loss``; no R1 or
path-length regularisation is applied there, although ``train.py`` declares ``d_reg_every`` / ``g_reg_every``:
they only set the Adam ratios).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.methods.fomm.discriminator import frozen
from bench.methods.lia.config import BLUR_KERNEL, LIAConfig
from bench.methods.lia.layers import ConvLayer, EqualLinear, ResBlock

#: minibatch standard deviation: groups of up to 4 samples, one feature
STDDEV_GROUP = 4
STDDEV_FEATURES = 1


class Discriminator(nn.Module):
    """Residual down-sampling to 4x4, the minibatch standard-deviation feature, a 3x3 layer and two linears
    to one score per image."""

    def __init__(self, config: LIAConfig) -> None:
        super().__init__()
        width = {r: config.channels(r) for r in (2 ** i for i in range(2, config.log_size + 1))}
        convs: list[nn.Module] = [ConvLayer(3, width[config.size], 1)]
        for level in range(config.log_size, 2, -1):
            convs.append(ResBlock(width[2 ** level], width[2 ** (level - 1)], BLUR_KERNEL))
        self.convs = nn.Sequential(*convs)
        self.final_conv = ConvLayer(width[4] + 1, width[4], 3)
        self.final_linear = nn.Sequential(EqualLinear(width[4] * 4 * 4, width[4], activation=True),
                                          EqualLinear(width[4], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.convs(x)
        batch, channels, height, width = out.shape
        group = min(batch, STDDEV_GROUP)
        if batch % group:
            raise ValueError(f"LIA's discriminator groups the batch by {STDDEV_GROUP} (minibatch standard "
                             f"deviation): a batch of {batch} per process does not divide; use a multiple of "
                             f"{STDDEV_GROUP} or fewer than {STDDEV_GROUP}")
        stddev = out.view(group, -1, STDDEV_FEATURES, channels // STDDEV_FEATURES, height, width)
        stddev = torch.sqrt(stddev.var(0, unbiased=False) + 1e-8)
        stddev = stddev.mean([2, 3, 4], keepdim=True).squeeze(2).repeat(group, 1, height, width)
        out = self.final_conv(torch.cat([out, stddev], 1))
        return self.final_linear(out.view(batch, -1))


def adversarial_terms(discriminator: Discriminator, prediction: torch.Tensor, real: torch.Tensor,
                      gen_gan: float, disc_gan: float) -> dict[str, torch.Tensor]:
    """``trainer.py``'s two updates in one pass: ``gen_gan`` = ``softplus(-D(G)).mean()`` with the
    discriminator frozen (``gen_update``: ``requires_grad(dis, False)``), then ``disc_gan`` =
    ``softplus(-D(real)).mean() + softplus(D(G.detach())).mean()`` (``dis_update(img_target, img_recon)``),
    each weighted. The discriminator has no state, so one backward gives each network its official gradient.
    """
    with frozen(discriminator):
        fake_score = discriminator(prediction)
    out = {"gen_gan": gen_gan * F.softplus(-fake_score).mean()}
    real_score = discriminator(real)
    fake_detached = discriminator(prediction.detach())
    out["disc_gan"] = disc_gan * (F.softplus(-real_score).mean() + F.softplus(fake_detached).mean())
    return out
