"""Augmentation: the official FOMM / MRAA augmentation.py (flips, resize, crop), one decision per sample for all
its frames, seeded by (seed, epoch, index)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from bench.config import from_dict
from bench.training.augment import AugmentedPairs, PairAugmentation, jitter_frames
from bench.training.config import AugmentationConfig, CropConfig, JitterConfig, ResizeConfig


def _item(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"source": torch.rand(3, 8, 10, generator=g), "driving": torch.rand(3, 8, 10, generator=g),
            "refs": torch.rand(2, 3, 8, 10, generator=g), "frame_indices": torch.tensor([1, 5, 2, 7])}


class _Frames(torch.utils.data.Dataset):
    def __init__(self):
        self.epochs = []

    def __len__(self):
        return 16

    def set_epoch(self, epoch):
        self.epochs.append(epoch)

    def __getitem__(self, index):
        return _item(index)


def test_flips_apply_to_every_frame_of_a_sample_and_never_combine():
    aug = PairAugmentation(AugmentationConfig(horizontal_flip=True, time_flip=True, jitter=JitterConfig()))
    seen = []
    for draw in range(400):
        item = _item()
        out = aug(item, np.random.default_rng(draw))
        swapped = torch.equal(out["frame_indices"], torch.tensor([5, 1, 2, 7]))
        source, driving = (item["driving"], item["source"]) if swapped else (item["source"], item["driving"])
        flipped = not torch.equal(out["source"], source)
        flip = (lambda x: x.flip(-1)) if flipped else (lambda x: x)
        assert torch.equal(out["source"], flip(source)) and torch.equal(out["driving"], flip(driving))
        assert torch.equal(out["refs"], flip(item["refs"]))
        seen.append((swapped, flipped))
    # official RandomFlip: time flip with probability 1/2, else a horizontal flip with probability 1/2
    assert (True, True) not in seen
    share = {case: seen.count(case) / len(seen) for case in set(seen)}
    assert share[(True, False)] == pytest.approx(0.5, abs=0.07)
    assert share[(False, True)] == pytest.approx(0.25, abs=0.07)


class Replay:
    """Stands in for the numpy generator and returns the draws the official code made."""

    def __init__(self, draws: list) -> None:
        self.flips = [v for name, v in draws if name == "random"]
        self.flips += [1.0] * (2 - len(self.flips))  # after a time flip the official draws no second number
        self.scale = next(v for name, v in draws if name == "uniform")
        self.offsets = [v for name, v in draws if name == "randint"] or [0, 0]  # no draw: nothing to crop

    def random(self) -> float:
        return self.flips.pop(0)

    def uniform(self, low: float, high: float) -> float:
        return self.scale

    def integers(self, low: int, high: int) -> int:
        return self.offsets.pop(0)


def test_flip_resize_and_crop_equal_the_official_augmentation():
    """tests/fixtures/official-augmentation.pt: FOMM's augmentation.py (flip, MGif's resize and crop) with
    the draws it made; fed the same draws, the frames are identical."""
    fx = torch.load(Path(__file__).parent / "fixtures" / "official-augmentation.pt", weights_only=False)
    config = from_dict(AugmentationConfig, {"horizontal_flip": True, "time_flip": True, "resize": fx["resize_param"],
                                            "crop": fx["crop_param"]})
    aug = PairAugmentation(config)
    for case in fx["cases"]:
        clip = case["clip"].permute(0, 3, 1, 2)
        out = aug({"source": clip[0], "driving": clip[1]}, Replay(case["draws"]))
        expected = case["output"].permute(0, 3, 1, 2)
        assert torch.equal(out["source"], expected[0]) and torch.equal(out["driving"], expected[1]), case["seed"]


def test_resize_and_crop_keep_the_frame_size_and_one_geometry_per_sample():
    config = AugmentationConfig(False, False, resize=ResizeConfig([0.9, 1.1]), crop=CropConfig([8, 10]))
    item = _item()
    item["driving"] = item["source"].clone()
    for draw in range(20):
        out = PairAugmentation(config)(item, np.random.default_rng(draw))
        assert out["source"].shape == out["driving"].shape == (3, 8, 10) and out["refs"].shape == (2, 3, 8, 10)
        assert torch.equal(out["source"], out["driving"])


def test_disabled_augmentation_is_the_identity():
    aug = PairAugmentation(AugmentationConfig(horizontal_flip=False, time_flip=False))
    item = _item()
    out = aug(item, np.random.default_rng(0))
    for key in ("source", "driving", "refs", "frame_indices"):
        assert torch.equal(out[key], item[key])


def test_jitter_uses_one_draw_for_all_frames_and_matches_torchvision():
    aug = PairAugmentation(AugmentationConfig(False, False, jitter=JitterConfig(0.3, 0.3, 0.3, 0.1)))
    item = _item()
    item["driving"] = item["source"].clone()
    item["refs"] = item["source"][None].repeat(2, 1, 1, 1)
    out = aug(item, np.random.default_rng(4))
    assert not torch.allclose(out["source"], item["source"])
    assert torch.equal(out["source"], out["driving"]) and torch.equal(out["refs"][1], out["source"])
    # same factors in the same order through torchvision one frame at a time
    frame = item["source"]
    expected = TF.adjust_hue(TF.adjust_saturation(TF.adjust_contrast(TF.adjust_brightness(frame, 1.2), 0.9), 1.1), 0.05)
    got = jitter_frames(frame[None], 1.2, 0.9, 1.1, 0.05, order=[0, 1, 2, 3])[0]
    assert torch.allclose(got, expected.clamp(0, 1), atol=1e-6)


def test_augmented_pairs_are_reproducible_per_epoch_and_index():
    config = AugmentationConfig(True, True, jitter=JitterConfig(0.1, 0.1, 0.1, 0.1))
    base = _Frames()
    data = AugmentedPairs(base, PairAugmentation(config), seed=7)
    data.set_epoch(1)
    first = [data[i]["source"] for i in range(6)]
    again = AugmentedPairs(_Frames(), PairAugmentation(config), seed=7)
    again.set_epoch(1)
    assert all(torch.equal(a, again[i]["source"]) for i, a in enumerate(first))
    data.set_epoch(2)
    assert base.epochs == [1, 2], "set_epoch reaches the wrapped dataset"
    assert any(not torch.equal(a, data[i]["source"]) for i, a in enumerate(first)), "fresh draws per epoch"
