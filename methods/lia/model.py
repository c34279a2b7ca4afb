"""LIA as a :class:`bench.methods.base.Method`: the forward passes of wyhsirius/LIA ``evaluation.py``
(reconstruction) and ``run_demo.py`` (animation, relative or absolute), and the training losses of
``trainer.py`` (commit 2a5bbfa).

Frames come in [0, 1] and go to the networks as ``(x - 0.5) * 2`` (the official ``[-1, 1]`` range); the
generated image is clamped to [-1, 1] and mapped back (``evaluation.py`` clamps before its L1). Frames of
another size than the model's ``size`` are resized to it (bilinear, anti-aliased: the official scripts
resize every frame to ``--size``) and the result back to the frames' size.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import ConfigError
from bench.methods.base import Method
from bench.methods.blocks import once_per_source
from bench.methods.fomm.shared import match_batch
from bench.methods.losses import PerceptualTerm
from bench.methods.lia.config import LIAConfig, lia_config
from bench.methods.lia.discriminator import Discriminator, adversarial_terms
from bench.methods.lia.generator import Generator
from bench.methods.losses import pixel_l1_loss


def to_signed(frames: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1] as the official preprocessing (``(img - 0.5) * 2.0``)."""
    return (frames - 0.5) * 2.0


def to_unit(image: torch.Tensor) -> torch.Tensor:
    """A generated image (about [-1, 1]) clamped and mapped to [0, 1]."""
    return (image.clamp(-1, 1) + 1) / 2


def resize(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``frames`` at ``size`` (bilinear, anti-aliased), unchanged when already there."""
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    return F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=True)


class LIA(Method):
    """Latent Image Animator (Wang et al., ICLR 2022): motion as a walk in the latent space

    An encoder maps the source to a latent code and a feature pyramid, and the driving frame to the
    magnitudes of a learned orthogonal motion dictionary; a StyleGAN2-style decoder renders the
    moved latent by warping the source features with flows it predicts at every level. No
    keypoints. Reconstruction uses the driving frame's motion as it is (``evaluation.py``);
    animation, by default, its change since the first driving frame added to the source's own
    motion (``run_demo.py``'s relative mode).
    """

    name = "lia"
    #: config switches shown by ``bench methods list``
    toggles = ("animation.mode", "losses.gen_gan")
    #: ``trainer.save`` writes the discriminator beside the generator; a file without it still animates
    optional_networks = ("dis",)

    def __init__(self, config: LIAConfig) -> None:
        super().__init__()
        self.config = config
        self.gen = Generator(config)
        losses = config.losses
        self.dis = Discriminator(config) if losses.gen_gan else None
        self.perceptual = PerceptualTerm(losses.perceptual_params(), signed_input=True)

    def networks(self) -> dict[str, nn.Module]:
        """The official checkpoint entries: ``gen`` (the ``Generator``, keys ``enc.*`` / ``dec.*``) and ``dis``."""
        return {"gen": self.gen, **({"dis": self.dis} if self.dis is not None else {})}

    def adversary(self) -> nn.Module | None:
        return self.dis

    @property
    def frame_size(self) -> tuple[int, int]:
        return self.config.size, self.config.size

    def forward_details(self, source: torch.Tensor, driving: torch.Tensor,
                        driving_initial: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The official ``Generator.forward(img_source, img_drive, h_start)`` on [0, 1] frames at the model's
        size, with its intermediates: ``w_source`` (the source's latent code), ``alpha`` (the driving
        frames' motion magnitudes), ``directions`` (the orthonormal motion dictionary), ``latent`` and
        ``prediction`` (in [-1, 1], not clamped).

        Without ``driving_initial`` the latent is ``w_source + D(alpha)`` (absolute motion); with it,
        ``alpha_start`` = the motion of ``driving_initial`` and ``alpha_source`` that of the source give
        ``w_source + (D(alpha) - D(alpha_start)) + D(alpha_source)`` (relative motion). A source or initial
        frame of batch 1 is encoded once and broadcast over the driving batch.
        """
        enc = self.gen.enc
        source = match_batch(to_signed(source), driving)
        w_source, features = once_per_source(enc.net_app, source)
        alpha = enc.motion(to_signed(driving))
        direction = self.gen.dec.direction
        basis = direction.basis()
        out = {"w_source": w_source, "alpha": alpha, "directions": basis}
        if driving_initial is None:
            out["latent"] = w_source + direction(alpha, basis)
        else:  # the official order of the sums
            out["alpha_start"] = once_per_source(enc.motion, match_batch(to_signed(driving_initial), driving))
            out["alpha_source"] = once_per_source(enc.fc, w_source)
            out["latent"] = (w_source + (direction(alpha, basis) - direction(out["alpha_start"], basis))
                             + direction(out["alpha_source"], basis))
        out["prediction"] = self.gen.dec(out["latent"], features)
        return out

    def _run(self, source: torch.Tensor, driving: torch.Tensor, driving_initial: torch.Tensor | None) -> torch.Tensor:
        size = tuple(driving.shape[-2:])
        initial = None if driving_initial is None else resize(driving_initial, self.frame_size)
        out = self.forward_details(resize(source, self.frame_size), resize(driving, self.frame_size), initial)
        return resize(to_unit(out["prediction"]), size)

    def generate(self, source: torch.Tensor, driving: torch.Tensor, refs: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruction as ``evaluation.py``: ``gen(source, driving)``, the driving motion as it is."""
        return self._run(source, driving, None)

    def animate(self, source: torch.Tensor, driving: torch.Tensor, driving_initial: torch.Tensor,
                refs: torch.Tensor | None = None) -> torch.Tensor:
        """``run_demo.py`` in ``config.animation.mode``: 'relative' (``h_start`` = the motion of
        ``driving_initial``) or 'absolute' (``h_start=None``)."""
        relative = self.config.animation.mode == "relative"
        return self._run(source, driving, driving_initial if relative else None)

    def losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``trainer.gen_update`` and ``dis_update`` of one step, each term weighted: ``perceptual``
        (``VGGLoss``: pyramid in [-1, 1], VGG-19 on the clamped scales), ``l1`` (``F.l1_loss`` in [-1, 1])
        and, with the discriminator, ``gen_gan`` and ``disc_gan`` (:func:`adversarial_terms`). The
        reconstruction is ``gen(source, driving)`` at the model's size (frames resized to it first)."""
        weights = self.config.losses
        source, driving = resize(batch["source"], self.frame_size), resize(batch["driving"], self.frame_size)
        prediction = self.forward_details(source, driving)["prediction"]
        target = to_signed(driving)
        out: dict[str, torch.Tensor] = {}
        if sum(weights.perceptual) != 0:
            out["perceptual"] = self.perceptual(prediction, target)
        out["l1"] = pixel_l1_loss(prediction, target, weights.l1)
        if self.dis is not None:
            out.update(adversarial_terms(self.dis, prediction, target, weights.gen_gan, weights.disc_gan))
        return out


def build_lia(config: Mapping[str, Any] | None) -> LIA:
    """Registry factory: LIA from a ``model_params`` mapping (e.g. ``configs/methods/lia/vox.yaml``)."""
    if config is None:
        raise ConfigError("lia needs model_params (e.g. configs/methods/lia/vox.yaml)")
    return LIA(lia_config(config))
