"""The interface every animation method implements."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from bench.errors import UserError

#: the stage ``bench train`` runs unless told otherwise (every trainable method has it)
MAIN_STAGE = "main"


@dataclass(frozen=True)
class TrainingStage:
    """A training stage after the main one (``bench train --stage NAME --resume RUN``).

    It trains only the sub-networks named in ``networks`` (attributes of the method, the official
    checkpoint names), with :meth:`Method.stage_losses`; every other parameter is frozen. Its
    settings come from the ``stages.<name>`` section of the training strategy, its method-specific
    ones (``options``, validated by the dataclass ``options``) included.
    """

    name: str
    networks: tuple[str, ...]
    description: str
    options: type | None = None


class Method(nn.Module):
    """An image-animation model.

    Frames are ``B x 3 x H x W`` float tensors in [0, 1]. ``refs`` are extra views of
    the source object, ``B x N x 3 x H x W`` (methods that are one-shot ignore them).
    """

    #: registry name, set by the factory
    name: str = ""
    #: whether the method uses reference views (multi-view fusion)
    uses_refs: bool = False
    #: training stages after the main one; each has a persistent flag ``trained_<name>`` in the state
    stages: tuple[TrainingStage, ...] = ()
    #: sub-networks an official checkpoint may lack (they keep their initial weights when absent)
    optional_networks: tuple[str, ...] = ()
    #: the frozen perceptual loss of the training losses (a ``bench.methods.losses.PerceptualTerm``, kept out of
    #: the parameters and the state dict), or None
    perceptual: Any = None

    def official_checkpoint(self, data: Mapping[str, Any], where: str) -> Mapping[str, Any]:
        """An official checkpoint's contents as ``{sub-network: state dict}`` (see :func:`bench.methods.official.load_official`); by
        default as they are. A method whose official weights are a folder of files (LivePortrait) maps the
        folder's ``{relative path: contents}`` here; ``where`` names the checkpoint in errors."""
        return data

    def to(self, *args: Any, **kwargs: Any) -> "Method":
        """``Module.to``; a ``memory_format`` applies to the 4-D tensors only (channels-last has no 5-D form: a
        method's 3-D convolutions, e.g. LivePortrait's warping module, keep their layout)."""
        memory_format = kwargs.pop("memory_format", None)
        if args or kwargs:
            super().to(*args, **kwargs)
        if memory_format is not None:
            self._apply(lambda t: t.contiguous(memory_format=memory_format) if t.dim() == 4 else t)
        return self

    def generate(self, source: torch.Tensor, driving: torch.Tensor, refs: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruction: motion taken from ``driving`` in absolute mode."""
        raise NotImplementedError

    def animate(self, source: torch.Tensor, driving: torch.Tensor, driving_initial: torch.Tensor,
                refs: torch.Tensor | None = None) -> torch.Tensor:
        """Animation: relative motion between ``driving_initial`` and ``driving`` applied to ``source``."""
        return self.generate(source, driving, refs)

    def losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Training losses for a batch with ``source``, ``driving`` (and ``refs``); summed by the trainer.

        A method with an :meth:`adversary` returns its discriminator's terms here too: the trainer
        back-propagates the sum once and steps both optimisers (see :meth:`adversary`)."""
        raise NotImplementedError(f"method '{self.name}' has no training losses")

    def adversary(self) -> nn.Module | None:
        """The discriminator trained beside the model by an Adam and MultiStepLR of its own
        (``train.lr_discriminator``), or None. Its terms in :meth:`losses` must reach only its own
        parameters, and the model's terms only the model's."""
        return None

    def stage_losses(self, stage: str, batch: Mapping[str, torch.Tensor], options: Any) -> dict[str, torch.Tensor]:
        """Training losses of the extra stage ``stage`` (see :attr:`stages`)."""
        raise NotImplementedError(f"method '{self.name}' has no training stage '{stage}'")

    def sample(self, source: torch.Tensor, driving: torch.Tensor, refs: torch.Tensor | None = None,
               stage: str = MAIN_STAGE) -> torch.Tensor:
        """What the sample grids of training ``stage`` show (default: the reconstruction)."""
        return self.generate(source, driving, refs)

    # ------------------------------------------------------------------ trainer hooks
    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer before each epoch (0-based) of any training stage, for methods whose
        training changes with the epoch (TPSMM: background warm-up, TPS dropout); default: nothing."""

    def before_optimizer_step(self, stage: str = MAIN_STAGE) -> None:
        """Called by the trainer between the backward pass of training ``stage`` and the optimiser steps
        (gradients unscaled under AMP, averaged over the processes under torchrun): a method's own
        gradient clipping or decay (TPSMM: ``train.py``'s clipping and Adam weight decay); default: nothing."""

    # ------------------------------------------------------------------ extra stages
    def stage(self, name: str) -> TrainingStage:
        """The declared extra stage ``name`` (one-line error naming the choices otherwise)."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        choices = ", ".join([MAIN_STAGE, *(s.name for s in self.stages)])
        raise UserError(f"method '{self.name}' has no training stage '{name}' (stages: {choices})")

    def register_stage_flags(self) -> None:
        """Give each declared stage its persistent ``trained_<name>`` flag (False until trained).

        Checkpoints written before a stage existed lack the flag; they load with it False."""
        for stage in self.stages:
            self.register_buffer(f"trained_{stage.name}", torch.zeros((), dtype=torch.bool))

        def default_flags(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
            for stage in self.stages:
                state_dict.setdefault(f"{prefix}trained_{stage.name}", torch.zeros((), dtype=torch.bool))

        self.register_load_state_dict_pre_hook(default_flags)

    def stage_trained(self, name: str) -> bool:
        """Whether the networks of stage ``name`` have been trained (by ``bench train --stage`` or
        in an official checkpoint)."""
        return bool(getattr(self, f"trained_{self.stage(name).name}"))

    def mark_stage_trained(self, name: str) -> None:
        getattr(self, f"trained_{self.stage(name).name}").fill_(True)

    def avd_animation_mode(self, requested: str | None, stage: str = "avd") -> str:
        """The animation mode of a method with an AVD stage (MRAA, TPSMM): unset is the official ``avd``
        once the AVD network is trained (by ``--stage avd`` or in an official checkpoint), else
        ``relative``; ``avd`` with an untrained AVD network is a one-line error."""
        trained = self.stage_trained(stage)
        if requested is None:
            return "avd" if trained else "relative"
        if requested == "avd" and not trained:
            raise UserError(f"{self.name or type(self).__name__} animation mode 'avd' needs a trained AVD network "
                            f"and this model's is untrained: train it with 'bench train --method {self.name} "
                            f"--stage {stage} --resume RUN', or animate with --set animation.mode=relative")
        return requested

    # ------------------------------------------------------------------ sizes
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def trainable(self) -> bool:
        return any(p.requires_grad for p in self.parameters())
