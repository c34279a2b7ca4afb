"""SADM configuration schema (``model_params`` of ``configs/methods/sadm/*.yaml``).

Validated with :func:`bench.config.from_dict`, so a wrong key or type names the key.
Network widths follow FOMM's 256x256 recipe, which the paper's training follows [37].
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from bench.config import from_dict
from bench.errors import ConfigError
from bench.methods.fomm.animation import KeypointNormalization
from bench.methods.losses import PerceptualLossParams, TransformParams

#: fixed-step torchdiffeq solvers (use ``steps``) and adaptive ones (use ``rtol``/``atol``)
FIXED_STEP_SOLVERS = ("euler", "midpoint", "heun2", "heun3", "rk4")
ADAPTIVE_SOLVERS = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")
MAX_REFS = 6


@dataclass
class KeypointDetectorConfig:
    """F_K: hourglass on the downscaled image -> K heatmaps -> soft-argmax."""
    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    temperature: float = 0.1
    scale_factor: float = 0.25


@dataclass
class CoefficientNetworkConfig:
    """F_C: hourglass on keypoint heatmap differences and shifted sources -> K+1 coefficient maps."""
    block_expansion: int = 64
    max_features: int = 1024
    num_blocks: int = 5
    scale_factor: float = 0.25
    kp_variance: float = 0.01


@dataclass
class EvolutionConfig:
    """F_E and its ODE solve (Eq. 4) on the coarse displacement field."""
    hidden_channels: int = 64
    num_layers: int = 3
    method: str = "rk4"
    steps: int = 4
    rtol: float = 1e-3
    atol: float = 1e-4
    adjoint: bool = True
    zero_init: bool = True


@dataclass
class GeneratorConfig:
    """F_G: encoder, bottleneck residual blocks, decoder."""
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    num_bottleneck_blocks: int = 6


@dataclass
class AppearanceFlowConfig:
    """F_A: hourglass on motion-warped features -> self-appearance flow (Eq. 5)."""
    block_expansion: int = 64
    max_features: int = 512
    num_blocks: int = 4


@dataclass
class LossConfig(PerceptualLossParams):
    """Eq. 9: perceptual (Eq. 7, :class:`PerceptualLossParams`, FOMM's) + lambda * equivariance (Eq. 8)."""
    equivariance_weight: float = 10.0
    transform: TransformParams = field(default_factory=TransformParams)


#: names of the perceptual-loss keys before they were shared with FOMM / MRAA / TPSMM (checkpoints of
#: motionbench 0.1 carry them in their config)
LEGACY_LOSS_KEYS = {"perceptual_scales": "scales", "perceptual_weights": "perceptual"}


def _renamed_legacy_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    losses = data.get("losses")
    if not isinstance(losses, Mapping) or not set(LEGACY_LOSS_KEYS) & set(losses):
        return dict(data)
    return {**data, "losses": {LEGACY_LOSS_KEYS.get(k, k): v for k, v in losses.items()}}


@dataclass
class SADMConfig:
    """The whole model, with the ablation toggles of Tables 3 and 4."""
    num_kp: int = 10
    num_channels: int = 3
    num_refs: int = 3
    motion_evolution: bool = True
    appearance_assist: bool = True
    keypoint_detector: KeypointDetectorConfig = field(default_factory=KeypointDetectorConfig)
    coefficient_network: CoefficientNetworkConfig = field(default_factory=CoefficientNetworkConfig)
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    appearance_flow: AppearanceFlowConfig = field(default_factory=AppearanceFlowConfig)
    losses: LossConfig = field(default_factory=LossConfig)
    #: relative animation of the keypoints: FOMM's official ``normalization_params`` (SADM follows FOMM)
    animation: KeypointNormalization = field(default_factory=KeypointNormalization)


def parse_config(data: Mapping[str, Any] | None) -> SADMConfig:
    """Validate a ``model_params`` mapping (missing keys take the defaults above)."""
    cfg = from_dict(SADMConfig, _renamed_legacy_keys(data or {}))
    cfg.losses.validate()
    if not 0 <= cfg.num_refs <= MAX_REFS:
        raise ConfigError(f"config key 'num_refs': must be in 0..{MAX_REFS}, got {cfg.num_refs}")
    if cfg.num_kp < 1:
        raise ConfigError(f"config key 'num_kp': must be positive, got {cfg.num_kp}")
    method = cfg.evolution.method
    if method not in FIXED_STEP_SOLVERS + ADAPTIVE_SOLVERS:
        raise ConfigError(f"config key 'evolution.method': unknown solver '{method}' "
                          f"(choose from: {', '.join(FIXED_STEP_SOLVERS + ADAPTIVE_SOLVERS)})")
    if method in FIXED_STEP_SOLVERS and cfg.evolution.steps < 1:
        raise ConfigError(f"config key 'evolution.steps': must be >= 1, got {cfg.evolution.steps}")
    if cfg.evolution.num_layers < 2:
        raise ConfigError(f"config key 'evolution.num_layers': must be >= 2, got {cfg.evolution.num_layers}")
    return cfg
