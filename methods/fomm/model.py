"""FOMM as a :class:`bench.methods.base.Method`."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import torch
from torch import nn

from bench.errors import ConfigError
from bench.methods.base import Method
from bench.methods.fomm.animation import normalize_kp
from bench.methods.fomm.config import FOMMConfig, fomm_config
from bench.methods.fomm.discriminator import AdversarialTerm, MultiScaleDiscriminator
from bench.methods.fomm.networks import KPDetector, OcclusionAwareGenerator
from bench.methods.blocks import once_per_source
from bench.methods.fomm.shared import EquivarianceTerms, match_batch, motion_model_losses
from bench.methods.losses import PerceptualTerm

EQUIVARIANCE = EquivarianceTerms("equivariance_value", "equivariance_jacobian", "value", "jacobian")


class FOMM(Method):
    """First Order Motion Model: keypoints with local Jacobians drive an occlusion-aware generator."""

    name = "fomm"
    #: config switches shown by ``bench methods list``
    toggles = ("common_params.estimate_jacobian", "generator_params.estimate_occlusion_map", "losses.generator_gan",
               "animation.adapt_movement_scale", "animation.use_relative_movement", "animation.use_relative_jacobian")

    def __init__(self, config: FOMMConfig) -> None:
        super().__init__()
        self.config = config
        self.kp_detector = KPDetector(config.common_params, config.kp_detector_params)
        self.generator = OcclusionAwareGenerator(config.common_params, config.generator_params)
        loss = config.losses
        self.perceptual = PerceptualTerm(loss)
        self.discriminator: MultiScaleDiscriminator | None = None
        if loss.generator_gan:
            params = config.discriminator_params
            self.discriminator = MultiScaleDiscriminator(config.common_params.num_channels, params)
            self._adversarial = AdversarialTerm(params.scales, loss.generator_gan, loss.discriminator_gan,
                                                loss.feature_matching)

    def networks(self) -> dict[str, nn.Module]:
        """The sub-networks under their official checkpoint names (the discriminator, a training-only
        network, is not needed to animate: official checkpoints that carry one load without it)."""
        return {"generator": self.generator, "kp_detector": self.kp_detector}

    def adversary(self) -> nn.Module | None:
        return self.discriminator

    def forward_details(self, source: torch.Tensor, driving: torch.Tensor) -> dict[str, Any]:
        """Absolute-mode forward pass with every intermediate: ``kp_source``, ``kp_driving``,
        ``mask``, ``sparse_deformed``, ``deformation``, ``occlusion_map``, ``deformed``, ``prediction``."""
        source = match_batch(source, driving)
        kp_source = once_per_source(self.kp_detector, source)
        kp_driving = self.kp_detector(driving)
        out = self.generator(source, kp_driving, kp_source)
        return {"kp_source": kp_source, "kp_driving": kp_driving, **out}

    def generate(self, source: torch.Tensor, driving: torch.Tensor, refs: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_details(source, driving)["prediction"]

    def animate(self, source: torch.Tensor, driving: torch.Tensor, driving_initial: torch.Tensor,
                refs: torch.Tensor | None = None) -> torch.Tensor:
        """Relative motion (``config.animation``: movement-scale adaptation, relative Jacobians)."""
        source = match_batch(source, driving)
        driving_initial = match_batch(driving_initial, driving)
        kp_source = self.kp_detector(source)
        kp_norm = normalize_kp(kp_source, self.kp_detector(driving), self.kp_detector(driving_initial),
                               **dataclasses.asdict(self.config.animation))
        return self.generator(source, kp_norm, kp_source)["prediction"]

    def losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Weighted perceptual (and optional pixel L1) reconstruction and keypoint / Jacobian equivariance
        losses; with the adversarial loss on, also ``gen_gan``, ``feature_matching`` and the
        discriminator's ``disc_gan`` (see :class:`AdversarialTerm`)."""
        details = self.forward_details(batch["source"], batch["driving"])
        out = motion_model_losses(self.config.losses, EQUIVARIANCE, self.perceptual, self.kp_detector,
                                  details["prediction"], batch["driving"], details["kp_driving"])
        if self.discriminator is not None:
            out.update(self._adversarial(self.discriminator, details["prediction"], batch["driving"]))
        return out


def build_fomm(config: Mapping[str, Any] | None) -> FOMM:
    """Registry factory: FOMM from an official-style ``model_params`` mapping."""
    if not config:
        raise ConfigError("fomm needs model_params (e.g. configs/methods/fomm/vox.yaml)")
    return FOMM(fomm_config(config))
