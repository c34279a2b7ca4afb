"""MRAA as a :class:`bench.methods.base.Method`."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import torch
from torch import nn

from bench.errors import ConfigError
from bench.methods.base import MAIN_STAGE, Method, TrainingStage
from bench.methods.blocks import once_per_source
from bench.methods.fomm.shared import EquivarianceTerms, match_batch, motion_model_losses
from bench.methods.losses import PerceptualTerm, avd_stage_losses
from bench.methods.mraa.animation import animation_region_params
from bench.methods.mraa.config import AVDTrainOptions, MRAAConfig, mraa_config
from bench.methods.mraa.networks import AVDNetwork, BGMotionPredictor, Generator, RegionPredictor

EQUIVARIANCE = EquivarianceTerms("equivariance_shift", "equivariance_affine", "shift", "affine")
AVD_STAGE = TrainingStage("avd", ("avd_network",), "animation via disentanglement: the AVD network learns to "
                          "rebuild the driving regions from a rescaled pose and the source's shape (official "
                          "train_avd.py)", AVDTrainOptions)


class MRAA(Method):
    """Motion Representations for Articulated Animation: PCA regions, background motion, skip generator."""

    name = "mraa"
    stages = (AVD_STAGE,)
    #: config switches shown by ``bench methods list``
    toggles = ("region_predictor_params.pca_based", "revert_axis_swap", "bg_predictor_params.bg_type",
               "generator_params.skips", "animation.mode", "animation.adapt_movement_scale")

    def __init__(self, config: MRAAConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.region_predictor = RegionPredictor(c.num_regions, c.num_channels, c.estimate_affine,
                                                c.region_predictor_params)
        self.bg_predictor = BGMotionPredictor(c.num_channels, c.bg_predictor_params)
        self.generator = Generator(c.num_regions, c.num_channels, c.revert_axis_swap, c.generator_params)
        self.avd_network = AVDNetwork(c.num_regions, c.revert_axis_swap, c.avd_network_params)
        self.perceptual = PerceptualTerm(c.losses)
        self.register_stage_flags()

    def networks(self) -> dict[str, nn.Module]:
        """The sub-networks under their official checkpoint names."""
        return {"generator": self.generator, "region_predictor": self.region_predictor,
                "bg_predictor": self.bg_predictor, "avd_network": self.avd_network}

    def forward_details(self, source: torch.Tensor, driving: torch.Tensor, with_avd: bool = False) -> dict[str, Any]:
        """Reconstruction forward pass with every intermediate: ``source_region_params``,
        ``driving_region_params``, ``bg_params``, ``optical_flow``, ``mask``, ``occlusion_map``,
        ``deformed``, ``prediction`` (and ``avd_region_params`` when ``with_avd``)."""
        source = match_batch(source, driving)
        src = once_per_source(self.region_predictor, source, flat_keys=("u", "d"))
        drv = self.region_predictor(driving)
        bg_params = self.bg_predictor(source, driving)
        out = self.generator(source, drv, src, bg_params)
        details = {"source_region_params": src, "driving_region_params": drv, "bg_params": bg_params, **out}
        if with_avd:
            details["avd_region_params"] = self.avd_network(src, drv)
        return details

    def generate(self, source: torch.Tensor, driving: torch.Tensor, refs: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_details(source, driving)["prediction"]

    def animation_mode(self) -> str:
        """``config.animation.mode``; unset: 'avd' once the AVD network is trained, else 'relative'."""
        return self.avd_animation_mode(self.config.animation.mode, AVD_STAGE.name)

    def animate(self, source: torch.Tensor, driving: torch.Tensor, driving_initial: torch.Tensor,
                refs: torch.Tensor | None = None) -> torch.Tensor:
        """Animation in :meth:`animation_mode` ('relative', 'avd' or 'standard'), without background motion
        (official ``demo.py`` / ``animate.py``)."""
        return self._animate(source, driving, driving_initial, self.animation_mode())

    def _animate(self, source: torch.Tensor, driving: torch.Tensor, driving_initial: torch.Tensor,
                 mode: str) -> torch.Tensor:
        source = match_batch(source, driving)
        driving_initial = match_batch(driving_initial, driving)
        src = self.region_predictor(source)
        params = animation_region_params(src, self.region_predictor(driving), self.region_predictor(driving_initial),
                                         mode, self.avd_network, self.config.animation.adapt_movement_scale)
        return self.generator(source, params, src)["prediction"]

    def sample(self, source: torch.Tensor, driving: torch.Tensor, refs: torch.Tensor | None = None,
               stage: str = MAIN_STAGE) -> torch.Tensor:
        """The AVD stage shows the source animated through the AVD network (as ``train_avd.py``'s
        visualisation); the main stage its reconstruction."""
        if stage == AVD_STAGE.name:
            return self._animate(source, driving, driving, "avd")
        return super().sample(source, driving, refs, stage)

    def losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Weighted perceptual (and optional pixel L1) reconstruction and region shift / affine equivariance
        losses (the affine term with the PCA axis-sign ambiguity removed when ``revert_axis_swap``)."""
        details = self.forward_details(batch["source"], batch["driving"])
        terms = dataclasses.replace(EQUIVARIANCE, axis_sign=self.config.revert_axis_swap)
        return motion_model_losses(self.config.losses, terms, self.perceptual, self.region_predictor,
                                   details["prediction"], batch["driving"], details["driving_region_params"])

    def stage_losses(self, stage: str, batch: Mapping[str, torch.Tensor], options: AVDTrainOptions
                     ) -> dict[str, torch.Tensor]:
        """The AVD stage (:func:`avd_stage_losses`) on the regions' shifts (``rec_shift``) and affines
        (``rec_affine``); its ``loss_weights`` are the official ``lambda_shift`` / ``lambda_affine``."""
        self.stage(stage)
        return avd_stage_losses(self.region_predictor, self.avd_network, batch, options.random_scale,
                                {"rec_shift": "shift", "rec_affine": "affine"})


def build_mraa(config: Mapping[str, Any] | None) -> MRAA:
    """Registry factory: MRAA from an official-style ``model_params`` mapping."""
    if not config:
        raise ConfigError("mraa needs model_params (e.g. configs/methods/mraa/vox.yaml)")
    return MRAA(mraa_config(config))
