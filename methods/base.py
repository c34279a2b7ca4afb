"""The interface every animation method implements."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn


class Method(nn.Module):
    """An image-animation model.

    Frames are ``B x 3 x H x W`` float tensors in [0, 1]. ``refs`` are extra views of
    the source object, ``B x N x 3 x H x W`` (methods that are one-shot ignore them).
    """

    #: registry name, set by the factory
    name: str = ""
    #: whether the method uses reference views (multi-view fusion)
    uses_refs: bool = False

    def generate(self, source: torch.Tensor, driving: torch.Tensor, refs: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruction: motion taken from ``driving`` in absolute mode."""
        raise NotImplementedError

    def animate(self, source: torch.Tensor, driving: torch.Tensor, driving_initial: torch.Tensor,
                refs: torch.Tensor | None = None) -> torch.Tensor:
        """Animation: relative motion between ``driving_initial`` and ``driving`` applied to ``source``."""
        return self.generate(source, driving, refs)

    def losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Training losses for a batch with ``source``, ``driving`` (and ``refs``); summed by the trainer."""
        raise NotImplementedError(f"method '{self.name}' has no training losses")

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def trainable(self) -> bool:
        return any(p.requires_grad for p in self.parameters())


