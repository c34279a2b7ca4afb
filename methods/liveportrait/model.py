"""LivePortrait (Guo et al. 2024, KwaiVGI/LivePortrait) as an evaluation-only :class:`bench.methods.base.Method`:
the official networks and the animation loop of ``LivePortraitPipeline.execute`` for a source image and a driving
video, with official weights only (no training code was released).

Input conventions: frames are resized to ``input_size`` (256, the official crop size; bilinear, as the official
``cv2.resize``) and decoded at twice that (512 with ``upscale`` 2), then resized to the frames' own size
(bilinear with antialiasing, ours: the official pipeline pastes the 512-px crop back into the full image) so
that the metrics compare frames of the dataset's size. The official face cropping (insightface detection,
landmarks, ``flag_do_crop``) and paste-back are not part of the protocol: the datasets are cropped already.
Eye/lip retargeting and lip normalisation need those landmarks and are off (the official defaults). Float32
throughout (the official ``--no_flag_use_half_precision``; its default is float16 on a GPU).

* ``generate`` (reconstruction): the driving frame's motion applied absolutely, as the official loop with
  ``flag_relative_motion`` off: its rotation and (tx, ty), the source's scale and canonical keypoints, the driving
  expression on the official subset of keypoints (:func:`motion.absolute_expression_mask`); then stitching and the
  driving multiplier as configured.
* ``animate``: the configured ``animation`` options (:class:`AnimationParams`; default the official command line's:
  relative motion, stitching, expression-friendly, multiplier 1), ``driving_initial`` being the first driving frame.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F

from bench.errors import ConfigError
from bench.methods.base import Method
from bench.methods.blocks import once_per_source
from bench.methods.fomm.shared import match_batch
from bench.methods.liveportrait.config import LivePortraitConfig, liveportrait_config
from bench.methods.liveportrait.convnext import MotionExtractor
from bench.methods.liveportrait.motion import KpInfo, driving_keypoints, kp_info, transform_keypoint
from bench.methods.liveportrait.networks import AppearanceFeatureExtractor, StitchingRetargetingModule, WarpingNetwork
from bench.methods.liveportrait.official import official_state
from bench.methods.liveportrait.spade import SPADEDecoder


class LivePortrait(Method):
    """LivePortrait: implicit 3-D keypoints with head pose and expression warp a 3-D feature volume; SPADE decoder

    Sub-networks under the official names of their files: ``appearance_feature_extractor`` (F),
    ``motion_extractor`` (M), ``warping_module`` (W), ``spade_generator`` (G), ``stitching_retargeting_module``
    (S and the two R, one file).
    """

    name = "liveportrait"
    #: config switches shown by ``bench methods list``
    toggles = ("input_size", "animation.relative_motion", "animation.stitching", "animation.driving_option",
               "animation.driving_multiplier")

    def __init__(self, config: LivePortraitConfig) -> None:
        super().__init__()
        self.config = config
        self.appearance_feature_extractor = AppearanceFeatureExtractor(config.appearance_feature_extractor_params)
        self.motion_extractor = MotionExtractor(config.motion_extractor_params)
        self.warping_module = WarpingNetwork(config.warping_module_params)
        self.spade_generator = SPADEDecoder(config.spade_generator_params)
        self.stitching_retargeting_module = StitchingRetargetingModule(config.stitching_retargeting_module_params)

    def networks(self) -> dict[str, torch.nn.Module]:
        return {"appearance_feature_extractor": self.appearance_feature_extractor,
                "motion_extractor": self.motion_extractor, "warping_module": self.warping_module,
                "spade_generator": self.spade_generator,
                "stitching_retargeting_module": self.stitching_retargeting_module}

    def official_checkpoint(self, data: Mapping[str, Any], where: str) -> Mapping[str, Any]:
        """The official folder's files (``{relative path: contents}``) as ``{sub-network: state dict}``."""
        return official_state(data, where)

    # ------------------------------------------------------------------ the wrapper's steps
    def prepare(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames at ``input_size`` (``prepare_source``'s resize; bilinear, no antialiasing)."""
        size = (self.config.input_size,) * 2
        if tuple(frames.shape[-2:]) == size:
            return frames
        return F.interpolate(frames, size=size, mode="bilinear", align_corners=False)

    def motion(self, frames: torch.Tensor) -> KpInfo:
        """``get_kp_info`` of prepared frames, with the rotation matrices (``R``)."""
        return kp_info(self.motion_extractor(frames))

    def source_state(self, source: torch.Tensor) -> dict[str, Any]:
        """What depends on the (prepared) source alone: its motion, keypoints ``x_s`` and feature volume."""
        info = self.motion(source)
        return {"info": info, "x_s": transform_keypoint(info), "feature": self.appearance_feature_extractor(source)}

    def warp_decode(self, feature: torch.Tensor, x_s: torch.Tensor, x_d: torch.Tensor) -> dict[str, torch.Tensor]:
        """``warp_decode``: the warping module's ``occlusion_map``, ``deformation`` and warped feature (``warped``),
        and the decoded ``image``."""
        out = self.warping_module(feature, kp_driving=x_d, kp_source=x_s)
        return {"occlusion_map": out["occlusion_map"], "deformation": out["deformation"], "warped": out["out"],
                "image": self.spade_generator(out["out"])}

    def finish_keypoints(self, x_s: torch.Tensor, x_d: torch.Tensor) -> torch.Tensor:
        """The loop's last keypoint steps: stitching (``flag_stitching``), then ``x_s + (x_d - x_s) * multiplier``."""
        options = self.config.animation
        if options.stitching:
            x_d = self.stitching_retargeting_module.stitch(x_s, x_d)
        return x_s + (x_d - x_s) * options.driving_multiplier

    # ------------------------------------------------------------------ protocol
    def keypoint_details(self, source: torch.Tensor, driving: torch.Tensor,
                         driving_initial: torch.Tensor | None = None, relative: bool = False) -> dict[str, Any]:
        """The official loop's keypoints for a driving batch (``relative`` needs ``driving_initial``): the source
        state (``source``: ``info``, ``x_s``, ``feature``), the driving motion (``driving``), the keypoints
        handed to ``warp_decode`` (``kp_driving``) and, with relative expression-friendly motion, the
        ``motion_multiplier`` (``B x 1 x 1``). A source (or initial frame) repeated over the batch is processed once."""
        state = once_per_source(lambda s: self.source_state(self.prepare(s)), match_batch(source, driving))
        initial = None
        if relative:
            initial = once_per_source(lambda d: self.motion(self.prepare(d)), match_batch(driving_initial, driving))
        info = self.motion(self.prepare(driving))
        x_d, multiplier = driving_keypoints(state["info"], state["x_s"], info, initial, self.config.animation, relative)
        out = {"source": state, "driving": info, "kp_driving": self.finish_keypoints(state["x_s"], x_d)}
        if multiplier is not None:
            out["motion_multiplier"] = multiplier
        return out

    def details(self, source: torch.Tensor, driving: torch.Tensor, driving_initial: torch.Tensor | None = None,
                relative: bool = False) -> dict[str, Any]:
        """:meth:`keypoint_details` and the :meth:`warp_decode` outputs, at the model's sizes."""
        out = self.keypoint_details(source, driving, driving_initial, relative)
        return {**out, **self.warp_decode(out["source"]["feature"], out["source"]["x_s"], out["kp_driving"])}

    def generate(self, source: torch.Tensor, driving: torch.Tensor, refs: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruction: absolute motion (see the module docstring), at the driving frames' size."""
        return _resized(self.details(source, driving)["image"], driving)

    def animate(self, source: torch.Tensor, driving: torch.Tensor, driving_initial: torch.Tensor,
                refs: torch.Tensor | None = None) -> torch.Tensor:
        """Animation with the configured options (relative motion from ``driving_initial`` unless off)."""
        relative = self.config.animation.relative_motion
        return _resized(self.details(source, driving, driving_initial, relative)["image"], driving)


def _resized(image: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The decoded image at the frames' size (bilinear with antialiasing; ours, see the module docstring)."""
    if image.shape[-2:] == like.shape[-2:]:
        return image
    return F.interpolate(image, size=like.shape[-2:], mode="bilinear", align_corners=False, antialias=True)


def build_liveportrait(config: Mapping[str, Any] | None) -> LivePortrait:
    """Registry factory: LivePortrait from an official-style ``model_params`` mapping."""
    if not config:
        raise ConfigError("liveportrait needs model_params (e.g. configs/methods/liveportrait/vox.yaml)")
    return LivePortrait(liveportrait_config(config))
