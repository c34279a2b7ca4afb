"""A tiny trainable Method for trainer and checkpoint tests (no dependency on the real models).

It predicts the driving frame from the source and driving frames with two convolutions and is
trained with an L1 loss, so it learns quickly and deterministically on 32x32 frames.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from bench.methods import METHODS
from bench.methods.base import Method

NAME = "tiny-test"


class TinyMethod(Method):
    uses_refs = False

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(6, channels, 3, padding=1), nn.ReLU(), nn.Conv2d(channels, 3, 3, padding=1))

    def generate(self, source: torch.Tensor, driving: torch.Tensor, refs: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.body(torch.cat([source, driving], dim=1)))

    def losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        generated = self.generate(batch["source"], batch["driving"])
        # a random jitter of the target exercises the global torch RNG (resume must restore it)
        noise = 0.01 * torch.randn_like(generated)
        return {"l1": (generated - batch["driving"] + noise).abs().mean(),
                "range": 0.1 * (generated - 0.5).pow(2).mean()}


def build_tiny(config: Mapping[str, Any] | None = None) -> TinyMethod:
    return TinyMethod(**dict(config or {}))


def register() -> str:
    """Register the tiny method once per process; returns its name."""
    if NAME not in METHODS:
        METHODS.register(NAME, build_tiny)
    return NAME


register()
