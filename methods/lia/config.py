"""LIA configuration: the official command-line sizes of wyhsirius/LIA (``run_demo.py``, ``evaluation.py``,
``train.py``: ``--size``, ``--latent_dim_style``, ``--latent_dim_motion``, ``--channel_multiplier``), the
animation mode of ``run_demo.py`` and the loss weights of ``trainer.py`` / ``vgg19.py``.

Official checkpoints (``vox.pt``, ``taichi.pt``, ``ted.pt``) are all size 256, style 512, motion 20, channel
multiplier 1. For tiny presets only (ours): ``max_channels`` (the official code fixes 512) caps every width of the
official channel table; ``flow_init_gain`` scales the initial weights of the flow heads (``ToFlow``'s
modulated 1x1 convolutions; 1 = the official ``randn`` init, 0 starts every flow at the identity and every
mask at 1/2, which a short run needs: random initial flows move features by up to half the image). Both
leave the checkpoint layout unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from bench.config import from_dict
from bench.errors import ConfigError
from bench.methods.losses import PerceptualLossParams

#: ``run_demo.py``: 'relative' (vox, taichi: ``h_start`` = the first driving frame's motion code) and
#: 'absolute' (ted: ``h_start=None``, the driving frame's motion code as it is)
ANIMATION_MODES = ("relative", "absolute")
#: the official channel table (``EncoderApp``, ``Synthesis``, ``Discriminator``): resolution -> width, the
#: second value multiplied by ``channel_multiplier`` in the decoder and the discriminator (not in the encoder)
CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
#: resolutions from which the multiplier applies
MULTIPLIED_FROM = 64
#: the official blur kernel of every up/downsampling (``blur_kernel=[1, 3, 3, 1]``)
BLUR_KERNEL = (1, 3, 3, 1)


@dataclass
class AnimationParams:
    """``run_demo.py``'s motion transfer: 'relative' (``h_start`` of the first driving frame; the official
    default for vox and taichi) or 'absolute' (no ``h_start``: the official choice for ted)."""
    mode: str = "relative"


@dataclass
class LossParams:
    """``trainer.py``: ``g_loss = vgg_loss + l1_loss + gan_g_loss`` and the discriminator's ``d_loss``.

    ``perceptual``: ``vgg19.VGGLoss`` weights of relu1_1 .. relu5_1 at each pyramid scale of ``scales``;
    ``l1``: weight of ``F.l1_loss`` in the [-1, 1] image range; ``gen_gan`` / ``disc_gan``: weights of the
    non-saturating generator loss ``softplus(-D(G))`` and the discriminator loss ``softplus(-D(x)) +
    softplus(D(G))`` (``gen_gan: 0`` builds no discriminator: ours, for tiny presets). ``pretrained_vgg:
    false`` (random VGG weights) is for the offline presets and tests.
    """
    scales: list[float] = field(default_factory=lambda: [1.0, 0.5, 0.25, 0.125])
    perceptual: list[float] = field(default_factory=lambda: [10.0, 10.0, 10.0, 10.0, 10.0])
    l1: float = 1.0
    gen_gan: float = 1.0
    disc_gan: float = 1.0
    pretrained_vgg: bool = True

    def perceptual_params(self) -> PerceptualLossParams:
        """The VGG-19 pyramid part, in the form the other methods share."""
        return PerceptualLossParams(scales=self.scales, perceptual=self.perceptual, pretrained_vgg=self.pretrained_vgg)


@dataclass
class LIAConfig:
    size: int = 256
    latent_dim_style: int = 512
    latent_dim_motion: int = 20
    channel_multiplier: int = 1
    max_channels: int = 512
    flow_init_gain: float = 1.0
    animation: AnimationParams = field(default_factory=AnimationParams)
    losses: LossParams = field(default_factory=LossParams)

    def channels(self, resolution: int, multiplied: bool = True) -> int:
        """Width at ``resolution``: the official table (times ``channel_multiplier`` from 64 px when
        ``multiplied``), capped at ``max_channels``."""
        width = CHANNELS[resolution]
        if multiplied and resolution >= MULTIPLIED_FROM:
            width *= self.channel_multiplier
        return min(width, self.max_channels)

    @property
    def log_size(self) -> int:
        return self.size.bit_length() - 1


def lia_config(data: Mapping[str, Any]) -> LIAConfig:
    """Validate a LIA ``model_params`` mapping (errors name the offending key).

    Rejects what the official networks cannot build: a size that is not a power of two between 8 (one
    synthesis level) and 1024 (the channel table), more motion directions than latent dimensions (the
    QR basis of the motion dictionary), and perceptual settings of the wrong shape.
    """
    cfg = from_dict(LIAConfig, data)
    if cfg.size not in CHANNELS or cfg.size < 8:
        raise ConfigError(f"config key 'size': a power of two from 8 to 1024, got {cfg.size}")
    if not 1 <= cfg.latent_dim_motion <= cfg.latent_dim_style:
        raise ConfigError(f"config key 'latent_dim_motion': between 1 and latent_dim_style "
                          f"({cfg.latent_dim_style}), got {cfg.latent_dim_motion}")
    for key in ("channel_multiplier", "max_channels"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"config key '{key}': must be at least 1, got {getattr(cfg, key)}")
    if cfg.flow_init_gain < 0:
        raise ConfigError(f"config key 'flow_init_gain': must be >= 0, got {cfg.flow_init_gain}")
    if cfg.animation.mode not in ANIMATION_MODES:
        raise ConfigError(f"config key 'animation.mode': {cfg.animation.mode!r} is not one of "
                          f"{', '.join(ANIMATION_MODES)}")
    cfg.losses.perceptual_params().validate()
    return cfg
