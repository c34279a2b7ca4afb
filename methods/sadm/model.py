"""SADM: self-appearance-aided differential evolution for motion transfer (paper Section 3).

Every view (the source, then up to ``num_refs`` reference views) goes through the same path:
keypoints -> coarse field (F_C) -> evolved field (F_E, Eq. 4) -> warped encoder features and
self-appearance features (F_A, Eq. 5). The views are fused with normalised confidence maps
(Eq. 6) and decoded. The views are processed as one batch of ``B * V`` images.

Choices where the paper leaves room: the confidence logit of each view is an extra output
layer of F_C (Sec. 3.3 says so; Fig. 3 draws it in F_G) and is normalised with a softmax over
views; the fused sums run over the source and the references (j = 0..N; Eq. 6 prints 1..N);
F_E's last layer starts at zero, so training starts from the coarse field; with
``num_refs = 0`` the single weight is exactly one, i.e. no fusion.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import torch

from bench.errors import UserError
from bench.methods.base import Method
from bench.methods.blocks import resize_like
from bench.methods.fomm.animation import normalize_kp
from bench.methods.losses import PerceptualTerm, RandomTransform, keypoint_equivariance_loss, pixel_l1_loss
from bench.methods.sadm.config import SADMConfig, parse_config
from bench.methods.sadm.evolution import MotionEvolution
from bench.methods.sadm.generator import Generator, fuse_views, normalize_confidence
from bench.methods.sadm.motion import CoefficientNetwork, KeypointDetector


@dataclass
class SADMOutput:
    """One forward pass. ``V = 1 + number of references``; fields are at F_C's resolution."""
    prediction: torch.Tensor      # B x C x H x W in [0, 1]
    kp_views: torch.Tensor        # B x V x K x 2
    kp_target: torch.Tensor       # B x K x 2
    coarse_field: torch.Tensor    # B x V x 2 x h x w (Eq. 3)
    field: torch.Tensor           # B x V x 2 x h x w (Eq. 4; equals coarse_field without evolution)
    confidence: torch.Tensor      # B x V x h' x w', sums to one over V
    nfe: int                      # F_E evaluations of the forward solve (0 without evolution)


class SADM(Method):
    """SADM: neural-ODE motion evolution, self-appearance flow and multi-view fusion (Section 3).

    The ablation switches are listed in ``toggles`` (see :mod:`bench.methods.sadm.config`).
    """

    toggles = ("motion_evolution", "appearance_assist", "num_refs", "evolution.method", "evolution.adjoint",
               "animation.adapt_movement_scale", "animation.use_relative_movement")

    def __init__(self, config: SADMConfig) -> None:
        super().__init__()
        self.config = config
        self.uses_refs = config.num_refs > 0
        self.kp_detector = KeypointDetector(config.num_kp, config.num_channels, config.keypoint_detector)
        self.coefficient_network = CoefficientNetwork(config.num_kp, config.num_channels, config.coefficient_network)
        self.evolution = MotionEvolution(config.evolution) if config.motion_evolution else None
        self.generator = Generator(config.num_channels, config.generator,
                                   config.appearance_flow if config.appearance_assist else None)
        self.perceptual = PerceptualTerm(self.config.losses)  # built on first use, kept out of the state dict
        self.last_nfe = 0

    # ------------------------------------------------------------------ inference
    def select_refs(self, refs: torch.Tensor | None, source: torch.Tensor) -> torch.Tensor:
        """The first ``num_refs`` reference views, ``B x N x C x H x W`` (N may be 0)."""
        n = self.config.num_refs
        if n == 0:
            return source.new_zeros((source.shape[0], 0, *source.shape[1:]))
        if refs is None or refs.dim() != 5 or refs.shape[1] < n:
            got = "none" if refs is None else f"shape {tuple(refs.shape)}"
            raise UserError(f"SADM with num_refs={n} needs refs of shape B x N x C x H x W with N >= {n}, "
                            f"got {got} (set num_refs=0 for source-only)")
        if refs.shape[0] != source.shape[0] or refs.shape[2:] != source.shape[1:]:
            raise UserError(f"SADM refs {tuple(refs.shape)} do not match the source {tuple(source.shape)}")
        return refs[:, :n]

    def forward_views(self, source: torch.Tensor, kp_target: torch.Tensor,
                      refs: torch.Tensor | None = None) -> SADMOutput:
        """Generate the frame whose keypoints are ``kp_target`` (``B x K x 2``) from source and refs."""
        views = torch.cat([source.unsqueeze(1), self.select_refs(refs, source)], dim=1)
        b, v = views.shape[:2]
        flat = views.flatten(0, 1)
        kp_views = self.kp_detector(flat)
        coarse = self.coefficient_network(flat, kp_views, kp_target.repeat_interleave(v, dim=0))
        field = coarse.field
        nfe = 0
        if self.evolution is not None:
            field = self.evolution(field)
            nfe = self.evolution.last_nfe
        self.last_nfe = nfe
        warped, appearance = self.generator.warp_features(self.generator.encode(flat), field)
        weights = normalize_confidence(resize_like(coarse.confidence, warped).view(b, v, *warped.shape[2:]))

        def fused(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else fuse_views(x.view(b, v, *x.shape[1:]), weights)

        prediction = self.generator.decode(fused(warped), fused(appearance))
        return SADMOutput(prediction, kp_views.view(b, v, *kp_views.shape[1:]), kp_target,
                          coarse.field.view(b, v, *field.shape[1:]), field.view(b, v, *field.shape[1:]), weights, nfe)

    def generate(self, source: torch.Tensor, driving: torch.Tensor, refs: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruction: the driving frame's own keypoints are the target (absolute motion)."""
        return self.forward_views(source, self.kp_detector(driving), refs).prediction

    def animate(self, source: torch.Tensor, driving: torch.Tensor, driving_initial: torch.Tensor,
                refs: torch.Tensor | None = None) -> torch.Tensor:
        """Relative motion: source keypoints moved by the driving keypoints' displacement since
        ``driving_initial`` (FOMM's official ``normalize_kp`` without Jacobians, with ``config.animation``:
        movement-scale adaptation, relative or absolute movement)."""
        kp_source = self.kp_detector(source)
        kp_target = normalize_kp({"value": kp_source}, {"value": self.kp_detector(driving)},
                                 {"value": self.kp_detector(driving_initial)},
                                 **asdict(self.config.animation))["value"]
        return self.forward_views(source, kp_target, refs).prediction

    # ------------------------------------------------------------------ training
    def losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Eq. 9 terms, already weighted: perceptual (Eq. 7), lambda * equivariance (Eq. 8) and the
        optional pixel L1 term (off unless ``losses.pixel_l1`` > 0)."""
        source, driving = batch["source"], batch["driving"]
        kp_driving = self.kp_detector(driving)
        out = self.forward_views(source, kp_driving, batch.get("refs"))
        perceptual = self.perceptual(out.prediction, driving)
        tcfg = self.config.losses.transform
        transform = RandomTransform(driving.shape[0], tcfg.sigma_affine, tcfg.sigma_tps, tcfg.points_tps,
                                    device=driving.device, dtype=driving.dtype)
        kp_transformed = self.kp_detector(transform.transform_frame(driving))
        equivariance = keypoint_equivariance_loss(kp_driving, kp_transformed, transform)
        terms = {"perceptual": perceptual, "equivariance": self.config.losses.equivariance_weight * equivariance}
        if self.config.losses.pixel_l1:
            terms["pixel_l1"] = pixel_l1_loss(out.prediction, driving, self.config.losses.pixel_l1)
        return terms


def build_sadm(config: Mapping[str, Any] | None = None) -> SADM:
    """Registry factory: SADM from a ``model_params`` mapping (defaults: the 256x256 recipe)."""
    return SADM(parse_config(config))
