"""FOMM's adversarial training: the multi-scale Pix2Pix-like discriminator and its losses.

Reproduces the official FOMM code (AliaksandrSiarohin/first-order-model): ``modules/discriminator.py``
(``DownBlock2d``, ``Discriminator``, ``MultiScaleDiscriminator``; spectral norm through
``torch.nn.utils.spectral_norm``, so state-dict keys are ``discs.<scale>.down_blocks.<i>.conv.weight_orig``
/ ``weight_u`` / ``weight_v``) and the adversarial terms of ``modules/model.py``
(``GeneratorFullModel``: least-squares ``gen_gan`` and ``feature_matching``; ``DiscriminatorFullModel``:
``disc_gan``), in the call order of ``train.py``.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bench.methods.losses import ImagePyramid


@dataclass
class DiscriminatorParams:
    """The official ``model_params.discriminator_params`` (every official config sets all of them)."""
    scales: list[float] = field(default_factory=lambda: [1.0])
    block_expansion: int = 32
    max_features: int = 512
    num_blocks: int = 4
    sn: bool = True


def scale_key(scale: float) -> str:
    """The official ``discs`` key of a scale: ``str(scale)`` of the YAML number with '.' -> '-' (1 -> '1')."""
    return str(int(scale) if float(scale).is_integer() else scale).replace(".", "-")


class DownBlock2d(nn.Module):
    """4x4 convolution (no padding, optionally spectral-normalised), instance norm, LeakyReLU(0.2), 2x2 pooling."""

    def __init__(self, in_features: int, out_features: int, norm: bool, pool: bool, sn: bool) -> None:
        super().__init__()
        conv = nn.Conv2d(in_features, out_features, kernel_size=4)
        self.conv = nn.utils.spectral_norm(conv) if sn else conv
        self.norm = nn.InstanceNorm2d(out_features, affine=True) if norm else None
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        if self.norm is not None:
            out = self.norm(out)
        out = F.leaky_relu(out, 0.2)
        return F.avg_pool2d(out, 2) if self.pool else out


class DiscriminatorOutput(NamedTuple):
    features: list[torch.Tensor]  # every block's output (the feature-matching maps)
    prediction: torch.Tensor  # B x 1 x h x w patch scores


class Discriminator(nn.Module):
    """Pix2Pix-style patch discriminator at one scale."""

    def __init__(self, num_channels: int, params: DiscriminatorParams) -> None:
        super().__init__()
        be, top, n = params.block_expansion, params.max_features, params.num_blocks
        widths = [num_channels] + [min(top, be * 2 ** (i + 1)) for i in range(n)]
        self.down_blocks = nn.ModuleList(
            DownBlock2d(widths[i], widths[i + 1], norm=i != 0, pool=i != n - 1, sn=params.sn) for i in range(n))
        conv = nn.Conv2d(widths[-1], 1, kernel_size=1)
        self.conv = nn.utils.spectral_norm(conv) if params.sn else conv

    def forward(self, x: torch.Tensor) -> DiscriminatorOutput:
        features = []
        for block in self.down_blocks:
            x = block(x)
            features.append(x)
        return DiscriminatorOutput(features, self.conv(x))


class MultiScaleDiscriminator(nn.Module):
    """One :class:`Discriminator` per image scale (``discs.<scale>``)."""

    def __init__(self, num_channels: int, params: DiscriminatorParams) -> None:
        super().__init__()
        self.scales = tuple(float(s) for s in params.scales)
        self.discs = nn.ModuleDict({scale_key(s): Discriminator(num_channels, params) for s in self.scales})

    def forward(self, pyramid: Sequence[torch.Tensor]) -> list[DiscriminatorOutput]:
        """``pyramid``: the image at each of :attr:`scales`, in order."""
        return [disc(image) for disc, image in zip(self.discs.values(), pyramid)]


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Run ``module`` as a constant: gradients still reach its input, none reach its parameters."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


class AdversarialTerm:
    """FOMM's adversarial terms for one training step, computed in one pass.

    The official step (``train.py``) runs ``GeneratorFullModel`` (D on the generated pyramid, then on
    the real one: ``gen_gan = w_g mean((1 - D(G))^2)`` summed over scales, ``feature_matching`` =
    sum of ``w_i mean|D_i(real) - D_i(G)|``), back-propagates, steps the generator, then
    ``DiscriminatorFullModel`` (D on the detached prediction, then on the real pyramid:
    ``disc_gan = w_d mean((1 - D(real))^2 + D(G)^2)``) after zeroing D's gradients. Here the four D
    calls run in that order in one forward: the generator-side calls see D's parameters as
    constants (their D gradients were discarded officially), the D-side calls see a detached
    prediction, so one backward gives each network exactly its official gradient, the D weights
    of the D-side calls are the same (the generator step does not change them), and the
    spectral-norm power iterations advance in the same order. The pyramid (anti-aliased, like
    the perceptual one) is kept out of the state.
    """

    def __init__(self, scales: Sequence[float], generator_gan: float, discriminator_gan: float,
                 feature_matching: Sequence[float]) -> None:
        self.scales = scales
        self.generator_gan = generator_gan
        self.discriminator_gan = discriminator_gan
        self.feature_matching = tuple(feature_matching)
        self._pyramid: ImagePyramid | None = None

    def pyramid(self, image: torch.Tensor) -> list[torch.Tensor]:
        if self._pyramid is None:
            self._pyramid = ImagePyramid(self.scales, image.shape[1])
        self._pyramid = self._pyramid.to(device=image.device, dtype=image.dtype)
        return self._pyramid(image)

    def __call__(self, discriminator: MultiScaleDiscriminator, prediction: torch.Tensor,
                 real: torch.Tensor) -> dict[str, torch.Tensor]:
        with frozen(discriminator):
            generated = discriminator(self.pyramid(prediction))
            target = discriminator(self.pyramid(real))
        out = {"gen_gan": sum(self.generator_gan * ((1 - g.prediction) ** 2).mean() for g in generated)}
        if any(self.feature_matching):
            out["feature_matching"] = sum(weight * (a - b).abs().mean()
                                          for g, t in zip(generated, target)
                                          for weight, a, b in zip(self.feature_matching, t.features, g.features)
                                          if weight)
        fake = discriminator(self.pyramid(prediction.detach()))
        real_maps = discriminator(self.pyramid(real))
        out["disc_gan"] = sum(self.discriminator_gan * ((1 - t.prediction) ** 2 + f.prediction ** 2).mean()
                              for f, t in zip(fake, real_maps))
        return out
