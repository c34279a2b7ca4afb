"""FOMM configuration: the ``model_params`` schema of the official YAML files, plus animation/loss options."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from bench.config import from_dict
from bench.errors import ConfigError
from bench.methods.fomm.animation import KeypointNormalization
from bench.methods.fomm.discriminator import DiscriminatorParams
from bench.methods.losses import PerceptualLossParams, TransformParams


@dataclass
class CommonParams:
    num_kp: int
    num_channels: int = 3
    estimate_jacobian: bool = True


@dataclass
class KPDetectorParams:
    block_expansion: int
    max_features: int
    num_blocks: int
    temperature: float = 0.1
    scale_factor: float = 1.0
    single_jacobian_map: bool = False
    pad: int = 0


@dataclass
class DenseMotionParams:
    block_expansion: int
    max_features: int
    num_blocks: int
    scale_factor: float = 1.0
    kp_variance: float = 0.01


@dataclass
class GeneratorParams:
    block_expansion: int
    max_features: int
    num_down_blocks: int
    num_bottleneck_blocks: int
    estimate_occlusion_map: bool = False
    dense_motion_params: DenseMotionParams | None = None


@dataclass
class AnimationParams(KeypointNormalization):
    """FOMM's ``normalize_kp`` options used by :meth:`FOMM.animate`: the official YAMLs'
    ``animate_params.normalization_params`` (every official config: no movement-scale adaptation,
    relative movement and relative Jacobians; ``demo.py``'s ``--adapt_scale`` is off by default too)."""
    use_relative_jacobian: bool = True


@dataclass
class LossParams(PerceptualLossParams):
    """Official ``train_params`` loss weights (the perceptual ones shared, :class:`PerceptualLossParams`).

    The adversarial loss is on when ``generator_gan`` is not 0 (official bair, fashion, mgif and nemo
    configs: 1; vox and taichi: 0), as ``train.py`` decides; it needs ``discriminator_params``.
    """
    equivariance_value: float = 10.0
    equivariance_jacobian: float = 10.0
    generator_gan: float = 0.0
    discriminator_gan: float = 1.0
    feature_matching: list[float] = field(default_factory=lambda: [10.0, 10.0, 10.0, 10.0])
    transform_params: TransformParams = field(default_factory=TransformParams)


@dataclass
class FOMMConfig:
    common_params: CommonParams
    kp_detector_params: KPDetectorParams
    generator_params: GeneratorParams
    #: the discriminator of the adversarial loss (built only when ``losses.generator_gan`` is not 0)
    discriminator_params: DiscriminatorParams | None = None
    animation: AnimationParams = field(default_factory=AnimationParams)
    losses: LossParams = field(default_factory=LossParams)


def fomm_config(data: Mapping[str, Any]) -> FOMMConfig:
    """Validate an official-style FOMM ``model_params`` mapping (errors name the offending key)."""
    cfg = from_dict(FOMMConfig, data)
    cfg.losses.validate()
    if cfg.losses.generator_gan:
        if cfg.discriminator_params is None:
            raise ConfigError("config key 'losses.generator_gan' is not 0 but there are no 'discriminator_params'")
        if len(cfg.losses.feature_matching) != cfg.discriminator_params.num_blocks:
            raise ConfigError(f"config key 'losses.feature_matching' needs one weight per discriminator block "
                              f"({cfg.discriminator_params.num_blocks}), got {cfg.losses.feature_matching}")
    return cfg
