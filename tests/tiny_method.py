"""A tiny trainable Method for trainer and checkpoint tests (no dependency on the real models).

It predicts the driving frame from the source and driving frames with two convolutions and is
trained with an L1 loss, so it learns quickly and deterministically on 32x32 frames.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from bench.datasets import DATASETS, DatasetSpec, ensure_synthetic
from bench.methods import METHODS
from bench.methods.base import Method

NAME = "tiny-test"
DATASET = "tiny-test-data"
#: a small synthetic-style dataset: 2 identities, 32x32 frames
TINY_DATA = dict(size=32, identities=2, train_videos=4, test_videos=2, min_frames=6, max_frames=8)


class TinyMethod(Method):
    uses_refs = False

    def __init__(self, channels: int = 8, delay: float = 0.0, marker: str = "") -> None:
        super().__init__()
        self.delay = delay  # seconds per loss call: lets a test interrupt a running job
        self.marker = marker  # file created on the first loss call: training has started
        self.body = nn.Sequential(nn.Conv2d(6, channels, 3, padding=1), nn.ReLU(), nn.Conv2d(channels, 3, 3, padding=1))

    def generate(self, source: torch.Tensor, driving: torch.Tensor, refs: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.body(torch.cat([source, driving], dim=1)))

    def losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.marker:
            Path(self.marker).touch()
        time.sleep(self.delay)
        generated = self.generate(batch["source"], batch["driving"])
        # a random jitter of the target exercises the global torch RNG (resume must restore it)
        noise = 0.01 * torch.randn_like(generated)
        return {"l1": (generated - batch["driving"] + noise).abs().mean(),
                "range": 0.1 * (generated - 0.5).pow(2).mean()}


def build_tiny(config: Mapping[str, Any] | None = None) -> TinyMethod:
    return TinyMethod(**dict(config or {}))


def register() -> str:
    """Register the tiny method and dataset once per process; returns the method's name."""
    if NAME not in METHODS:
        METHODS.register(NAME, build_tiny)
    if DATASET not in DATASETS:
        DATASETS.register(DATASET, DatasetSpec(
            name=DATASET, title="tiny test set", domain="synthetic", frame_size=(32, 32), test_count=2,
            train_count=4, identity_rule="before-hash", min_frames=4, default_root="(tests only)"))
    return NAME


def make_data(root: Path) -> Path:
    """Generate the tiny dataset at ``root`` (FOMM layout)."""
    return ensure_synthetic(root, **TINY_DATA)


register()
