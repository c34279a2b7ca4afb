"""MRAA configuration: the ``model_params`` schema of the official YAML files, plus animation/loss options."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from bench.config import from_dict
from bench.errors import ConfigError
from bench.methods.losses import PerceptualLossParams, TransformParams

BG_TYPES = ("zero", "affine", "perspective")
ANIMATION_MODES = ("standard", "relative", "avd")


@dataclass
class RegionPredictorParams:
    block_expansion: int
    max_features: int
    num_blocks: int
    temperature: float = 0.1
    scale_factor: float = 1.0
    pca_based: bool = True
    fast_svd: bool = False
    pad: int = 3


@dataclass
class BGPredictorParams:
    block_expansion: int
    max_features: int
    num_blocks: int
    bg_type: str = "zero"


@dataclass
class PixelwiseFlowParams:
    block_expansion: int
    max_features: int
    num_blocks: int
    scale_factor: float = 1.0
    region_var: float = 0.01
    use_covar_heatmap: bool = False
    use_deformed_source: bool = True
    estimate_occlusion_map: bool = False


@dataclass
class GeneratorParams:
    block_expansion: int
    max_features: int
    num_down_blocks: int
    num_bottleneck_blocks: int
    skips: bool = False
    pixelwise_flow_predictor_params: PixelwiseFlowParams | None = None


@dataclass
class AVDParams:
    """``avd_network_params`` of the AVD network (MRAA's, reused by TPSMM)."""
    id_bottle_size: int = 64
    pose_bottle_size: int = 64


@dataclass
class AnimationParams:
    """MRAA's ``animate_params``: ``mode`` is 'relative', 'avd' or 'standard' (absolute).

    Unset (null), ``mode`` is the official one (every official config and ``demo.py``: 'avd') once the
    AVD network is trained (``bench train --stage avd``, or an official checkpoint), and 'relative'
    before. ``adapt_movement_scale`` (ours; the official 'relative' mode always adapts) can turn the
    hull-size scaling of relative movement off.
    """
    mode: str | None = None
    adapt_movement_scale: bool = True


@dataclass
class AVDTrainOptions:
    """Options of the AVD stage, MRAA's and TPSMM's (official ``train_avd_params``; its ``lambda_shift`` /
    ``lambda_affine`` are the stage's ``loss_weights`` of ``rec_shift`` / ``rec_affine``, TPSMM's ``lambda_shift``
    that of ``rec_kp``): the pose of the driving regions / keypoints is scaled per sample by
    ``diag(U(1 - random_scale, 1 + random_scale))`` before the AVD network rebuilds it."""
    random_scale: float = 0.25


@dataclass
class LossParams(PerceptualLossParams):
    """Official ``train_params`` loss weights (the perceptual ones shared, :class:`PerceptualLossParams`)."""
    equivariance_shift: float = 10.0
    equivariance_affine: float = 10.0
    transform_params: TransformParams = field(default_factory=TransformParams)


@dataclass
class MRAAConfig:
    num_regions: int
    region_predictor_params: RegionPredictorParams
    generator_params: GeneratorParams
    bg_predictor_params: BGPredictorParams
    num_channels: int = 3
    estimate_affine: bool = True
    revert_axis_swap: bool = True
    avd_network_params: AVDParams = field(default_factory=AVDParams)
    animation: AnimationParams = field(default_factory=AnimationParams)
    losses: LossParams = field(default_factory=LossParams)


def mraa_config(data: Mapping[str, Any]) -> MRAAConfig:
    """Validate an official-style MRAA ``model_params`` mapping (errors name the offending key)."""
    cfg = from_dict(MRAAConfig, data)
    cfg.losses.validate()
    if cfg.bg_predictor_params.bg_type not in BG_TYPES:
        raise ConfigError(f"config key 'bg_predictor_params.bg_type': {cfg.bg_predictor_params.bg_type!r} "
                          f"is not one of {', '.join(BG_TYPES)}")
    if cfg.animation.mode is not None and cfg.animation.mode not in ANIMATION_MODES:
        raise ConfigError(f"config key 'animation.mode': {cfg.animation.mode!r} is not one of "
                          f"{', '.join(ANIMATION_MODES)}")
    return cfg
