"""TPSMM configuration: the ``model_params`` schema of the official YAML files
(yoyo-nb/Thin-Plate-Spline-Motion-Model, config/*.yaml), plus animation options, the loss weights
(``losses``) and the epoch-dependent parts of the official recipe (``training``)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from bench.config import from_dict
from bench.errors import ConfigError
from bench.methods.losses import PerceptualLossParams, TransformParams
from bench.methods.mraa.config import AVDParams  # TPSMM's avd_network_params are MRAA's (same network)

ANIMATION_MODES = ("relative", "standard", "avd")
#: the official DenseMotionNetwork always predicts four occlusion masks when ``multi_mask``
OCCLUSION_NUM = 4


@dataclass
class CommonParams:
    """``common_params``: read by every official constructor (defaults as in ``DenseMotionNetwork``)."""
    num_tps: int
    num_channels: int = 3
    bg: bool = False
    multi_mask: bool = True


@dataclass
class GeneratorParams:
    """``generator_params`` of ``InpaintingNetwork``."""
    block_expansion: int
    max_features: int
    num_down_blocks: int


@dataclass
class DenseMotionParams:
    """``dense_motion_params`` of ``DenseMotionNetwork``."""
    block_expansion: int
    max_features: int
    num_blocks: int
    scale_factor: float = 0.25
    kp_variance: float = 0.01


@dataclass
class AnimationParams:
    """``demo.py --mode``: 'relative', 'standard' (absolute) or 'avd'.

    Unset (null): 'avd' once the AVD network is trained (``bench train --stage avd``, or an official
    checkpoint saved by ``train_avd.py``), else 'relative' (``demo.py``'s default, which it keeps
    even with an AVD network: set ``relative`` to animate as the demo does by default).
    """
    mode: str | None = None


@dataclass
class LossParams(PerceptualLossParams):
    """The official ``train_params`` loss settings (the same in all four official configs): the perceptual
    loss (:class:`PerceptualLossParams`), the weights of ``equivariance_value`` (keypoints under TPSMM's own
    random TPS, ``transform_params``), ``warp_loss`` (encoder features) and ``bg`` (background affine cycle),
    each term off at 0."""
    equivariance_value: float = 10.0
    warp_loss: float = 10.0
    bg: float = 10.0
    transform_params: TransformParams = field(default_factory=TransformParams)


@dataclass
class TrainingParams:
    """The official ``train_params`` that change with the epoch (0-based, as ``train.py``'s), and
    ``train.py``'s hard-coded optimiser details; defaults are ``config/vox-256.yaml``'s.

    * ``bg_start``: the background predictor is used (and trained, with the ``bg`` loss) from this
      epoch on; before it the background motion is the identity.
    * TPS dropout (Eq. 7-8 of the paper) while ``epoch < dropout_epoch``, each TPS transformation
      dropped with probability ``min(epoch / dropout_inc_epoch * dropout_maxp + dropout_startp,
      dropout_maxp)``.
    * ``max_grad_norm``: ``clip_grad_norm_(max_norm, norm_type=inf)`` of the keypoint detector, the
      dense motion network and (from ``bg_start``) the background predictor before each step; null
      turns it off. ``weight_decay``: the L2 term the official Adam adds to every gradient.
    """
    bg_start: int = 10
    dropout_epoch: int = 35
    dropout_maxp: float = 0.3
    dropout_startp: float = 0.1
    dropout_inc_epoch: int = 10
    max_grad_norm: float | None = 10.0
    weight_decay: float = 1.0e-4

    def dropout_p(self, epoch: int) -> float | None:
        """The TPS dropout probability at ``epoch`` (``GeneratorFullModel.forward``), None when off."""
        if epoch >= self.dropout_epoch:
            return None
        return min(epoch / self.dropout_inc_epoch * self.dropout_maxp + self.dropout_startp, self.dropout_maxp)


@dataclass
class TPSMMConfig:
    common_params: CommonParams
    generator_params: GeneratorParams
    dense_motion_params: DenseMotionParams
    avd_network_params: AVDParams = field(default_factory=AVDParams)
    animation: AnimationParams = field(default_factory=AnimationParams)
    losses: LossParams = field(default_factory=LossParams)
    training: TrainingParams = field(default_factory=TrainingParams)


def occlusion_upsamplings(scale_factor: float) -> int:
    """``up_nums`` of the official ``DenseMotionNetwork``: log2 of the dense-motion downscaling."""
    return int(math.log(1 / scale_factor, 2))


def tpsmm_config(data: Mapping[str, Any]) -> TPSMMConfig:
    """Validate an official-style TPSMM ``model_params`` mapping (errors name the offending key).

    Besides types, it rejects settings the official code cannot run (it would fail with an index or
    shape error mid-forward): with ``multi_mask`` the generator needs ``num_down_blocks`` = 3 (one
    occlusion mask per decoder level, four in all), and the dense-motion hourglass enough levels.
    ``scale_factor`` must be 1 or a power of 1/2 (the official configs use 1/4).
    """
    cfg = from_dict(TPSMMConfig, data)
    common, dense = cfg.common_params, cfg.dense_motion_params
    if common.num_tps < 1:
        raise ConfigError(f"config key 'common_params.num_tps': must be at least 1, got {common.num_tps}")
    up = occlusion_upsamplings(dense.scale_factor) if 0 < dense.scale_factor <= 1 else -1
    if up < 0 or 2 ** up * dense.scale_factor != 1:
        # our anti-aliased downsampler subsamples by slicing, equal to the official nearest resize for these
        raise ConfigError("config key 'dense_motion_params.scale_factor': must be 1 or a power of 1/2 "
                          f"(1/2, 1/4, ...), got {dense.scale_factor}")
    if cfg.animation.mode is not None and cfg.animation.mode not in ANIMATION_MODES:
        raise ConfigError(f"config key 'animation.mode': {cfg.animation.mode!r} is not one of "
                          f"{', '.join(ANIMATION_MODES)}")
    _check_training(cfg)
    if common.multi_mask:
        if cfg.generator_params.num_down_blocks != OCCLUSION_NUM - 1:
            raise ConfigError("config key 'generator_params.num_down_blocks': must be 3 with common_params.multi_mask "
                              f"(four occlusion masks), got {cfg.generator_params.num_down_blocks}")
        if up > OCCLUSION_NUM:
            raise ConfigError("config key 'dense_motion_params.scale_factor': with common_params.multi_mask it must "
                              f"be at least 1/16, got {dense.scale_factor}")
        if OCCLUSION_NUM - up > dense.num_blocks:
            raise ConfigError(f"config key 'dense_motion_params.num_blocks': must be at least {OCCLUSION_NUM - up} "
                              f"for scale_factor {dense.scale_factor} with multi_mask, got {dense.num_blocks}")
    return cfg


def _check_training(cfg: TPSMMConfig) -> None:
    """Values the official recipe cannot run with (a division by zero, a VGG list of the wrong length)."""
    cfg.losses.validate()
    training = cfg.training
    if training.dropout_epoch > 0 and training.dropout_inc_epoch < 1:
        raise ConfigError("config key 'training.dropout_inc_epoch': must be at least 1 while TPS dropout is on "
                          f"(dropout_epoch > 0), got {training.dropout_inc_epoch}")
    for name in ("dropout_maxp", "dropout_startp"):
        value = getattr(training, name)
        if not 0 <= value < 1:
            raise ConfigError(f"config key 'training.{name}': a probability in [0, 1), got {value}")
    if training.max_grad_norm is not None and not training.max_grad_norm > 0:
        raise ConfigError(f"config key 'training.max_grad_norm': must be positive or null, got "
                          f"{training.max_grad_norm}")
    if training.weight_decay < 0 or training.bg_start < 0 or training.dropout_epoch < 0:
        raise ConfigError("config keys 'training.weight_decay', 'training.bg_start' and 'training.dropout_epoch' "
                          "must be >= 0")
