"""Training augmentation (FOMM's ``augmentation_params``): horizontal flip, time flip, colour jitter.

All frames of one sample (source, driving, references) get the same flip and the same jitter
parameters, as FOMM transforms a clip as a whole. Draws come from a generator keyed by
(seed, epoch, index), so results do not depend on data-loader workers and a resumed run
sees the same augmentations as an uninterrupted one.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torchvision.transforms.functional as TF
from torch.utils.data import Dataset

from bench.training.config import AugmentationConfig

#: stream id that separates augmentation draws from the dataset's own frame draws
_AUG_STREAM = 0xA06


def jitter_frames(frames: torch.Tensor, brightness: float, contrast: float, saturation: float, hue: float,
                  order: list[int]) -> torch.Tensor:
    """Apply the four colour adjustments (factors as torchvision's, ``hue`` a shift) in ``order``."""
    ops = (
        lambda x: TF.adjust_brightness(x, brightness),
        lambda x: TF.adjust_contrast(x, contrast),
        lambda x: TF.adjust_saturation(x, saturation),
        lambda x: TF.adjust_hue(x, hue),
    )
    for i in order:
        frames = ops[i](frames)
    return frames.clamp(0.0, 1.0)


class PairAugmentation:
    """Augments one training item (``source``, ``driving``, ``refs``; ``3 x H x W`` floats in [0, 1])."""

    def __init__(self, config: AugmentationConfig) -> None:
        self.config = config

    def _jitter_params(self, rng: np.random.Generator) -> tuple[float, float, float, float, list[int]] | None:
        j = self.config.jitter
        if not any((j.brightness, j.contrast, j.saturation, j.hue)):
            return None

        def factor(amount: float) -> float:
            return float(rng.uniform(max(0.0, 1.0 - amount), 1.0 + amount)) if amount else 1.0

        brightness, contrast, saturation = factor(j.brightness), factor(j.contrast), factor(j.saturation)
        hue = float(rng.uniform(-j.hue, j.hue)) if j.hue else 0.0
        return brightness, contrast, saturation, hue, [int(i) for i in rng.permutation(4)]

    def __call__(self, item: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        item = dict(item)
        # draw every decision first so the stream is the same whatever is enabled downstream
        hflip = bool(rng.random() < 0.5) and self.config.horizontal_flip
        tflip = bool(rng.random() < 0.5) and self.config.time_flip
        jitter = self._jitter_params(rng)
        if tflip:  # the clip played backwards: driving comes first
            item["source"], item["driving"] = item["driving"], item["source"]
            if "frame_indices" in item:
                indices = item["frame_indices"].clone()
                indices[[0, 1]] = indices[[1, 0]]
                item["frame_indices"] = indices
        refs = item.get("refs")
        if refs is None:
            refs = item["source"].new_zeros((0, *item["source"].shape))
        frames = torch.cat([item["source"][None], item["driving"][None], refs])
        if hflip:
            frames = frames.flip(-1)
        if jitter is not None:
            frames = jitter_frames(frames, *jitter)
        item["source"], item["driving"] = frames[0], frames[1]
        if "refs" in item:
            item["refs"] = frames[2:]
        return item


class AugmentedPairs(Dataset):
    """Wraps a training-pairs dataset (``set_epoch``-aware) and augments each item, seeded."""

    def __init__(self, base: Dataset, augmentation: PairAugmentation, seed: int = 0) -> None:
        self.base = base
        self.augmentation = augmentation
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = np.random.Generator(np.random.PCG64([self.seed, self.epoch, index, _AUG_STREAM]))
        return self.augmentation(self.base[index], rng)
