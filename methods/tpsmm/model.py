"""TPSMM as a :class:`bench.methods.base.Method`: the official ``reconstruction.py`` and ``demo.py``
forward passes, the training losses of ``modules/model.py`` (``GeneratorFullModel``) with the epoch
schedule of ``train.py`` (background warm-up, TPS dropout, gradient clipping, weight decay), and the
AVD stage of ``train_avd.py``."""
from __future__ import annotations

import math
import warnings
from typing import Any, Mapping

import torch
from torch import nn

from bench.errors import ConfigError
from bench.methods.base import MAIN_STAGE, Method, TrainingStage
from bench.methods.blocks import once_per_source
from bench.methods.fomm.shared import match_batch
from bench.methods.losses import PerceptualTerm, TransformParams, avd_stage_losses, pixel_l1_loss
from bench.methods.mraa.config import AVDTrainOptions  # the AVD stage's options are MRAA's
from bench.methods.tpsmm.animation import animation_kp, movement_scale
from bench.methods.tpsmm.config import TPSMMConfig, tpsmm_config
from bench.methods.tpsmm.networks import (AVDNetwork, BGMotionPredictor, DenseMotionNetwork, InpaintingNetwork,
                                          KPDetector)
from bench.methods.tpsmm.tps import TPS

Keypoints = dict[str, torch.Tensor]

AVD_STAGE = TrainingStage("avd", ("avd_network",), "animation via disentanglement: the AVD network learns to "
                          "rebuild the driving keypoints from a rescaled pose and the source's identity "
                          "(official train_avd.py)", AVDTrainOptions)
#: sub-networks ``train.py`` clips (``clip_grad_norm_(max_norm=10, norm_type=inf)``); not the inpainting network
CLIPPED_NETWORKS = ("kp_detector", "dense_motion_network", "bg_predictor")


def random_tps(like: torch.Tensor, params: TransformParams) -> TPS:
    """The equivariance loss's random TPS (``TPS(mode='random', bs=B, **transform_params)``), drawn on the CPU."""
    return TPS.random(like.shape[0], params.sigma_affine, params.sigma_tps, params.points_tps, dtype=like.dtype,
                      device=like.device)


def _expand_kp(kp: Keypoints, batch: int) -> Keypoints:
    """Broadcast keypoints of one image over ``batch`` driving frames."""
    if kp["fg_kp"].shape[0] == 1 and batch > 1:
        return {k: v.expand(batch, *v.shape[1:]) for k, v in kp.items()}
    return kp


class TPSMM(Method):
    """Thin-Plate Spline Motion Model: TPS warps from keypoints, background motion, multi-resolution occlusion

    K thin-plate-spline warps from 5K keypoints and an affine background motion are blended into one flow;
    multi-resolution occlusion masks guide an inpainting generator.

    Training follows ``train.py`` given the epoch (:meth:`set_epoch`, told by the trainer) and the
    trainer's call of :meth:`before_optimizer_step`. The official background predictor has an Adam of its
    own with the main one's settings (lr, betas, weight decay, milestones); the trainer's single Adam
    moves it identically: Adam's state is per parameter and it skips parameters without a gradient, so
    the background predictor stays still before ``bg_start`` and its bias correction starts there.
    """

    name = "tpsmm"
    stages = (AVD_STAGE,)
    #: config switches shown by ``bench methods list``
    toggles = ("common_params.bg", "common_params.multi_mask", "animation.mode", "training.bg_start",
               "training.dropout_epoch")
    #: sub-networks an official checkpoint may lack (``logger.load_cpk`` loads them only when present):
    #: ``bg_predictor`` is saved from epoch ``bg_start`` on, ``avd_network`` only by ``train_avd.py``
    optional_networks = ("bg_predictor", "avd_network")

    def __init__(self, config: TPSMMConfig) -> None:
        super().__init__()
        self.config = config
        c = config.common_params
        # run.py's construction order
        self.inpainting_network = InpaintingNetwork(c, config.generator_params)
        self.kp_detector = KPDetector(c)
        self.dense_motion_network = DenseMotionNetwork(c, config.dense_motion_params)
        self.bg_predictor = BGMotionPredictor(c) if c.bg else None
        self.avd_network = AVDNetwork(c.num_tps, config.avd_network_params)
        losses = config.losses
        self.perceptual = PerceptualTerm(losses)
        self._epoch: int | None = None
        self._warned_epoch = False
        self.register_stage_flags()

    def networks(self) -> dict[str, nn.Module]:
        """The sub-networks under their official checkpoint names (``bg_predictor`` only with ``bg``)."""
        nets: dict[str, nn.Module] = {"inpainting_network": self.inpainting_network, "kp_detector": self.kp_detector,
                                      "dense_motion_network": self.dense_motion_network}
        if self.bg_predictor is not None:
            nets["bg_predictor"] = self.bg_predictor
        nets["avd_network"] = self.avd_network
        return nets

    def _synthesise(self, source: torch.Tensor, kp_source: Keypoints, kp_driving: Keypoints,
                    bg_param: torch.Tensor | None, dropout_p: float | None = None) -> dict[str, Any]:
        batch = kp_driving["fg_kp"].shape[0]
        source = match_batch(source, kp_driving["fg_kp"])
        dense_motion = self.dense_motion_network(source, kp_driving, _expand_kp(kp_source, batch), bg_param,
                                                 dropout_flag=dropout_p is not None, dropout_p=dropout_p or 0.0)
        out = self.inpainting_network(source, dense_motion)
        return {"dense_motion": dense_motion, "prediction": out["prediction"], "deformed": out["deformed"],
                "warped_encoder_maps": out["warped_encoder_maps"]}

    def forward_details(self, source: torch.Tensor, driving: torch.Tensor, use_bg: bool = True,
                        dropout_p: float | None = None) -> dict[str, Any]:
        """Reconstruction as ``reconstruction.py`` (``bg_param = bg_predictor(source, driving)`` when ``bg``
        and ``use_bg``; with ``dropout_p`` a float, the TPS dropout of training) with every
        intermediate: ``kp_source``, ``kp_driving`` (``{'fg_kp'}``), ``bg_param`` (or None),
        ``dense_motion`` {``deformation``, ``contribution_maps``, ``occlusion_map`` (list),
        ``deformed_source``}, ``prediction``, ``deformed``, ``warped_encoder_maps``.

        A one-image ``source`` is broadcast over the driving batch (its keypoints are detected once).
        """
        kp_source = once_per_source(self.kp_detector, source)
        kp_driving = self.kp_detector(driving)
        bg_param = None
        if self.bg_predictor is not None and use_bg:
            bg_param = self.bg_predictor(match_batch(source, driving), driving)
        details = self._synthesise(source, kp_source, kp_driving, bg_param, dropout_p)
        return {"kp_source": kp_source, "kp_driving": kp_driving, "bg_param": bg_param, **details}

    def generate(self, source: torch.Tensor, driving: torch.Tensor, refs: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_details(source, driving)["prediction"]

    def animation_mode(self) -> str:
        """``config.animation.mode``; unset: 'avd' once the AVD network is trained, else 'relative'."""
        return self.avd_animation_mode(self.config.animation.mode, AVD_STAGE.name)

    def animate_details(self, source: torch.Tensor, driving: torch.Tensor, driving_initial: torch.Tensor,
                        mode: str | None = None) -> dict[str, Any]:
        """``demo.make_animation`` in ``mode`` (default :meth:`animation_mode`), without background
        motion (``bg_param=None`` as in demo.py): ``kp_source``, ``kp_driving_initial``, ``kp_driving``,
        ``kp_norm``, ``movement_scale`` (relative mode), ``dense_motion``, ``prediction``, ``deformed``.

        The relative movement scale comes from batch element 0 of ``source`` and ``driving_initial``,
        as the official ``relative_kp``.
        """
        mode = mode or self.animation_mode()
        kp_source = self.kp_detector(source)
        kp_initial = self.kp_detector(driving_initial)
        kp_driving = self.kp_detector(driving)
        batch = driving.shape[0]
        scale = movement_scale(kp_source["fg_kp"], kp_initial["fg_kp"]) if mode == "relative" else None
        kp_norm = animation_kp(_expand_kp(kp_source, batch) if mode == "avd" else kp_source, kp_driving, kp_initial,
                               mode, self.avd_network, scale)
        out = {"kp_source": kp_source, "kp_driving_initial": kp_initial, "kp_driving": kp_driving, "kp_norm": kp_norm}
        if scale is not None:
            out["movement_scale"] = scale
        out.update(self._synthesise(source, kp_source, kp_norm, None))
        return out

    def animate(self, source: torch.Tensor, driving: torch.Tensor, driving_initial: torch.Tensor,
                refs: torch.Tensor | None = None) -> torch.Tensor:
        """Animation in :meth:`animation_mode` ('relative', 'standard' or 'avd'), without background motion."""
        return self.animate_details(source, driving, driving_initial)["prediction"]

    def sample(self, source: torch.Tensor, driving: torch.Tensor, refs: torch.Tensor | None = None,
               stage: str = MAIN_STAGE) -> torch.Tensor:
        """The AVD stage shows the source animated through the AVD network (``train_avd.py``'s
        visualisation); the main stage its reconstruction."""
        if stage == AVD_STAGE.name:
            return self.animate_details(source, driving, driving, "avd")["prediction"]
        return super().sample(source, driving, refs, stage)

    # ------------------------------------------------------------------ training (train.py)
    def set_epoch(self, epoch: int) -> None:
        """The training epoch (0-based) that the background warm-up and the TPS dropout follow; a
        trainer tells it before each epoch."""
        self._epoch = int(epoch)

    @property
    def epoch(self) -> int:
        """The epoch set by :meth:`set_epoch` (0 until then)."""
        return 0 if self._epoch is None else self._epoch

    def uses_bg(self, epoch: int | None = None) -> bool:
        """Whether the background predictor takes part in training at ``epoch`` (``epoch >= bg_start``)."""
        epoch = self.epoch if epoch is None else epoch
        return self.bg_predictor is not None and epoch >= self.config.training.bg_start

    def losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The official ``GeneratorFullModel`` terms at the current epoch, each already weighted:
        ``perceptual`` (pyramid VGG-19), ``equivariance_value`` (keypoints of the driving frame under
        TPSMM's random TPS), ``warp_loss`` (the warped source encoder features against the driving
        frame's, both occluded), ``bg`` (``|A_bg(s, d) A_bg(d, s) - I|``, from ``bg_start``), and
        ``pixel_l1`` when its weight is set. Random draws in the official order: the TPS dropout's
        uniforms, then the random TPS."""
        if self._epoch is None and self.training and not self._warned_epoch:
            self._warned_epoch = True
            warnings.warn("TPSMM trains with the settings of epoch 0 (background warm-up, TPS dropout): the trainer "
                          "did not tell it the epoch (Method.set_epoch)", RuntimeWarning, stacklevel=2)
        w, epoch = self.config.losses, self.epoch
        source, driving = batch["source"], batch["driving"]
        use_bg = self.uses_bg(epoch)
        details = self.forward_details(source, driving, use_bg=use_bg, dropout_p=self.config.training.dropout_p(epoch))
        prediction = details["prediction"]
        out: dict[str, torch.Tensor] = {}
        if sum(w.perceptual) != 0:
            out["perceptual"] = self.perceptual(prediction, driving)
        if w.pixel_l1:
            out["pixel_l1"] = pixel_l1_loss(prediction, driving, w.pixel_l1)
        if w.equivariance_value != 0:
            transform = random_tps(driving, w.transform_params)
            transformed_kp = self.kp_detector(transform.transform_frame(driving))
            warped = transform.warp_coordinates(transformed_kp["fg_kp"])
            out["equivariance_value"] = w.equivariance_value * (details["kp_driving"]["fg_kp"] - warped).abs().mean()
        if w.warp_loss != 0:
            encoded = self.inpainting_network.get_encode(driving, details["dense_motion"]["occlusion_map"])
            decoded = details["warped_encoder_maps"]
            value = sum((encoded[i] - decoded[-i - 1]).abs().mean() for i in range(len(encoded)))
            out["warp_loss"] = w.warp_loss * value
        if use_bg and w.bg != 0:
            reverse = self.bg_predictor(driving, match_batch(source, driving))
            cycle = torch.matmul(details["bg_param"], reverse)
            eye = torch.eye(3, dtype=cycle.dtype, device=cycle.device).view(1, 1, 3, 3)
            out["bg"] = w.bg * (eye - cycle).abs().mean()
        return out

    def before_optimizer_step(self, stage: str = MAIN_STAGE) -> None:
        """``train.py`` between the backward pass and the optimiser step of the main stage: clip the
        gradients of the keypoint detector, the dense motion network and (from ``bg_start``) the
        background predictor to an infinity norm of ``max_grad_norm``, then add the official Adam's
        L2 term ``weight_decay * p`` to every gradient (Adam with ``weight_decay`` does exactly this
        before its update). The AVD stage's Adam has neither (``train_avd.py``)."""
        if stage != MAIN_STAGE:
            return
        training = self.config.training
        if training.max_grad_norm is not None:
            for name in CLIPPED_NETWORKS:
                net = getattr(self, name)
                if net is None or (name == "bg_predictor" and not self.uses_bg()):
                    continue
                params = [p for p in net.parameters() if p.grad is not None]
                if params:
                    torch.nn.utils.clip_grad_norm_(params, max_norm=training.max_grad_norm, norm_type=math.inf)
        if training.weight_decay:
            with torch.no_grad():
                for p in self.parameters():
                    if p.grad is not None:
                        p.grad.add_(p, alpha=training.weight_decay)

    # ------------------------------------------------------------------ AVD stage (train_avd.py)
    def stage_losses(self, stage: str, batch: Mapping[str, torch.Tensor], options: AVDTrainOptions
                     ) -> dict[str, torch.Tensor]:
        """The AVD stage (:func:`avd_stage_losses`) on the keypoints (``rec_kp``); its ``loss_weights`` is the
        official ``lambda_shift``."""
        self.stage(stage)
        return avd_stage_losses(self.kp_detector, self.avd_network, batch, options.random_scale, {"rec_kp": "fg_kp"})


def build_tpsmm(config: Mapping[str, Any] | None) -> TPSMM:
    """Registry factory: TPSMM from an official-style ``model_params`` mapping."""
    if not config:
        raise ConfigError("tpsmm needs model_params (e.g. configs/methods/tpsmm/vox.yaml)")
    return TPSMM(tpsmm_config(config))
