"""LivePortrait configuration: the ``model_params`` schema of the official ``src/config/models.yaml``
(KwaiVGI/LivePortrait), plus the input size and the animation options of the official pipeline.

Defaults are those of the official constructors; ``motion_extractor_params`` also takes the ConvNeXt-V2
``depths`` / ``dims`` (default: ConvNeXt-V2-tiny's, the official backbone) so that small test models can be built.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from bench.config import from_dict
from bench.errors import ConfigError

#: ``flag_relative_motion`` + ``driving_option`` of the official pipeline (``src/config/argument_config.py``)
DRIVING_OPTIONS = ("expression-friendly", "pose-friendly")
#: the official pipeline's absolute-mode expression transfer indexes keypoints 0..20 (live_portrait_pipeline.py)
NUM_KP = 21
#: ``headpose_pred_to_degree`` reads 66 bins of 3 degrees (src/utils/camera.py)
NUM_BINS = 66


@dataclass
class AppearanceParams:
    """``appearance_feature_extractor_params`` (F): a 2-D encoder reshaped into a 3-D feature volume."""
    image_channel: int
    block_expansion: int
    num_down_blocks: int
    max_features: int
    reshape_channel: int
    reshape_depth: int
    num_resblocks: int


@dataclass
class MotionParams:
    """``motion_extractor_params`` (M): canonical keypoints, head pose, expression, scale and translation from a
    ConvNeXt-V2 (``depths`` / ``dims`` are ours: the official ``convnextv2_tiny`` fixes them to these defaults)."""
    num_kp: int = 24
    backbone: str = "convnextv2_tiny"
    depths: list[int] = field(default_factory=lambda: [3, 3, 9, 3])
    dims: list[int] = field(default_factory=lambda: [96, 192, 384, 768])


@dataclass
class DenseMotionParams:
    """``warping_module_params.dense_motion_params``: the 3-D hourglass predicting the dense motion."""
    block_expansion: int
    max_features: int
    num_blocks: int
    reshape_depth: int
    compress: int


@dataclass
class WarpingParams:
    """``warping_module_params`` (W)."""
    num_kp: int
    block_expansion: int
    max_features: int
    num_down_blocks: int
    reshape_channel: int
    dense_motion_params: DenseMotionParams
    estimate_occlusion_map: bool = False


@dataclass
class SpadeParams:
    """``spade_generator_params`` (G): the SPADE decoder; ``upscale`` 2 doubles the output (256 -> 512 px)."""
    upscale: int = 1
    block_expansion: int = 64
    max_features: int = 256
    num_down_blocks: int = 2
    out_channels: int = 64


@dataclass
class MLPParams:
    input_size: int
    hidden_sizes: list[int]
    output_size: int


@dataclass
class StitchingParams:
    """``stitching_retargeting_module_params`` (S and the two R): three MLPs."""
    stitching: MLPParams
    lip: MLPParams
    eye: MLPParams


@dataclass
class AnimationParams:
    """The official pipeline's options (``inference.py`` flags; defaults: its command-line defaults).

    * ``relative_motion`` (``flag_relative_motion``): animation applies the driving motion relative to the first
      driving frame; off, absolutely (what reconstruction always does).
    * ``stitching`` (``flag_stitching``): the stitching MLP corrects the driving keypoints given the source's.
    * ``driving_option`` (relative motion only): ``expression-friendly`` rescales the motion by the ratio of the
      source's and the first driving frame's keypoint-hull volumes; ``pose-friendly`` does not.
    * ``driving_multiplier``: the motion ``x_d - x_s`` is scaled by it.
    """
    relative_motion: bool = True
    stitching: bool = True
    driving_option: str = "expression-friendly"
    driving_multiplier: float = 1.0


@dataclass
class LivePortraitConfig:
    appearance_feature_extractor_params: AppearanceParams
    motion_extractor_params: MotionParams
    warping_module_params: WarpingParams
    spade_generator_params: SpadeParams
    stitching_retargeting_module_params: StitchingParams
    #: the official ``InferenceConfig.input_shape`` (frames of another size are resized to it)
    input_size: int = 256
    animation: AnimationParams = field(default_factory=AnimationParams)

    @property
    def feature_size(self) -> int:
        """Side of the feature volume (``input_size`` / 2 ** appearance ``num_down_blocks``)."""
        return self.input_size // 2 ** self.appearance_feature_extractor_params.num_down_blocks

    @property
    def output_size(self) -> int:
        """Side of the decoded image (two SPADE upsamplings, then the pixel shuffle when ``upscale`` is 2)."""
        return self.feature_size * 4 * (2 if self.spade_generator_params.upscale > 1 else 1)


def _fail(key: str, message: str) -> None:
    raise ConfigError(f"config key '{key}': {message}")


def _check_sizes(cfg: LivePortraitConfig) -> None:
    """Shapes the official modules need to agree on (else they fail mid-forward with a shape error)."""
    app, warp, spade = (cfg.appearance_feature_extractor_params, cfg.warping_module_params,
                        cfg.spade_generator_params)
    dense = warp.dense_motion_params
    if app.num_down_blocks < 1:
        _fail("appearance_feature_extractor_params.num_down_blocks", "must be at least 1")
    if app.reshape_channel * app.reshape_depth != app.max_features:
        _fail("appearance_feature_extractor_params.max_features", "must equal reshape_channel x reshape_depth")
    if (warp.reshape_channel, warp.max_features, dense.reshape_depth) != (app.reshape_channel, app.max_features,
                                                                         app.reshape_depth):
        _fail("warping_module_params", "reshape_channel, max_features and dense_motion_params.reshape_depth must "
              "match the appearance feature extractor's reshape_channel, max_features and reshape_depth")
    warped = warp.block_expansion * 2 ** warp.num_down_blocks
    if min(spade.max_features, spade.block_expansion * 2 ** spade.num_down_blocks) != warped:
        _fail("spade_generator_params", f"the decoder's input width must be the warping module's output width {warped}")
    if spade.upscale not in (1, 2):
        _fail("spade_generator_params.upscale",
              f"must be 1 or 2 (the official decoder shuffles by 2), got {spade.upscale}")
    if cfg.input_size % 2 ** app.num_down_blocks or cfg.feature_size % 2 ** dense.num_blocks:
        _fail("input_size", f"{cfg.input_size} / 2 ** num_down_blocks must be divisible by 2 ** "
              f"dense_motion_params.num_blocks ({2 ** dense.num_blocks})")


def _check_keypoints(cfg: LivePortraitConfig) -> None:
    motion, warp, mlps = (cfg.motion_extractor_params, cfg.warping_module_params,
                          cfg.stitching_retargeting_module_params)
    if motion.num_kp != NUM_KP or warp.num_kp != NUM_KP:
        _fail("motion_extractor_params.num_kp", f"must be {NUM_KP} in both the motion extractor and the warping "
              "module (the official pipeline's expression transfer indexes 21 keypoints)")
    if motion.backbone != "convnextv2_tiny":
        _fail("motion_extractor_params.backbone", f"'{motion.backbone}' is not the official 'convnextv2_tiny'")
    if len(motion.depths) != 4 or len(motion.dims) != 4:
        _fail("motion_extractor_params.depths", "depths and dims need one value per ConvNeXt-V2 stage (4)")
    sizes = {"stitching": (6 * NUM_KP, 3 * NUM_KP + 2), "lip": (3 * NUM_KP + 2, 3 * NUM_KP),
             "eye": (3 * NUM_KP + 3, 3 * NUM_KP)}
    for name, (inputs, outputs) in sizes.items():
        mlp = getattr(mlps, name)
        if (mlp.input_size, mlp.output_size) != (inputs, outputs) or not mlp.hidden_sizes:
            _fail(f"stitching_retargeting_module_params.{name}", f"needs input_size {inputs}, output_size {outputs} "
                  "and at least one hidden size")


def liveportrait_config(data: Mapping[str, Any]) -> LivePortraitConfig:
    """Validate an official-style LivePortrait ``model_params`` mapping (errors name the offending key)."""
    cfg = from_dict(LivePortraitConfig, data)
    _check_sizes(cfg)
    _check_keypoints(cfg)
    if cfg.animation.driving_option not in DRIVING_OPTIONS:
        _fail("animation.driving_option",
              f"{cfg.animation.driving_option!r} is not one of {', '.join(DRIVING_OPTIONS)}")
    return cfg
