"""Training augmentation: the official FOMM / MRAA ``augmentation.py`` (``AllAugmentationTransform``).

Order and semantics as there: ``RandomFlip`` (time flip with probability 1/2, otherwise a
horizontal flip with probability 1/2: the two never combine), ``RandomResize`` (one factor
U(ratio) per sample, ``int(side * factor)``, scikit-image nearest-neighbour ``resize`` with
anti-aliasing, as the official call), ``RandomCrop`` (edge padding, centred, up to the crop
size, then one random offset per axis), ``ColorJitter`` (one draw of factors and order per sample;
torchvision's tensor adjustments on the float frames, where the official quantises to 8 bits and
adjusts PIL images, so jitter agrees in distribution, not bit for bit). Flip, resize and crop
equal the official frames for the same draws (``tests/fixtures/official-augmentation.pt``).
All frames of one sample (source, driving, references) get the same decisions, as FOMM transforms
a clip as a whole. Draws come from a generator keyed by (seed, epoch, index), so results do not
depend on data-loader workers and a resumed run sees the same augmentations as an
uninterrupted one.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from skimage.transform import resize as skimage_resize
from torch.utils.data import Dataset

from bench.training.config import AugmentationConfig, CropConfig

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


def resize_frames(frames: torch.Tensor, factor: float) -> torch.Tensor:
    """``N x C x H x W`` frames resized to ``int(H * factor) x int(W * factor)`` exactly as the official
    ``RandomResize`` (scikit-image ``resize``, order 0, ``anti_aliasing=True``, ``mode='constant'``)."""
    height, width = int(frames.shape[-2] * factor), int(frames.shape[-1] * factor)
    out = [skimage_resize(frame.permute(1, 2, 0).numpy(), (height, width), order=0, preserve_range=True,
                          mode="constant", anti_aliasing=True) for frame in frames]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(frames.dtype).contiguous()


def pad_to(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Edge-pad ``N x C x H x W`` frames, centred (the extra pixel after), to at least ``size``."""
    pad_h, pad_w = max(0, size[0] - frames.shape[-2]), max(0, size[1] - frames.shape[-1])
    if not pad_h and not pad_w:
        return frames
    return F.pad(frames, (pad_w // 2, (pad_w + 1) // 2, pad_h // 2, (pad_h + 1) // 2), mode="replicate")


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

    @staticmethod
    def _crop(frames: torch.Tensor, crop: CropConfig, rng: np.random.Generator) -> torch.Tensor:
        height, width = crop.size
        frames = pad_to(frames, (height, width))
        left = int(rng.integers(0, frames.shape[-1] - width + 1))
        top = int(rng.integers(0, frames.shape[-2] - height + 1))
        return frames[..., top:top + height, left:left + width]

    def __call__(self, item: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        item = dict(item)
        config = self.config
        # both flip draws first, so the stream is the same whatever is enabled
        tflip = bool(rng.random() < 0.5) and config.time_flip
        hflip = bool(rng.random() < 0.5) and config.horizontal_flip and not tflip
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
        if config.resize is not None:
            frames = resize_frames(frames, float(rng.uniform(*config.resize.ratio)))
        if config.crop is not None:
            frames = self._crop(frames, config.crop, rng)
        jitter = self._jitter_params(rng)
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
