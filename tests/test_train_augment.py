"""Augmentation: one decision per sample for all its frames, seeded by (seed, epoch, index)."""
from __future__ import annotations

import numpy as np
import torch
import torchvision.transforms.functional as TF

from bench.training.augment import AugmentedPairs, PairAugmentation, jitter_frames
from bench.training.config import AugmentationConfig, JitterConfig


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


def test_flips_apply_to_every_frame_of_a_sample():
    aug = PairAugmentation(AugmentationConfig(horizontal_flip=True, time_flip=True, jitter=JitterConfig()))
    seen = set()
    for draw in range(40):
        item = _item()
        out = aug(item, np.random.default_rng(draw))
        swapped = torch.equal(out["frame_indices"], torch.tensor([5, 1, 2, 7]))
        source, driving = (item["driving"], item["source"]) if swapped else (item["source"], item["driving"])
        flipped = not torch.equal(out["source"], source)
        flip = (lambda x: x.flip(-1)) if flipped else (lambda x: x)
        assert torch.equal(out["source"], flip(source)) and torch.equal(out["driving"], flip(driving))
        assert torch.equal(out["refs"], flip(item["refs"]))
        seen.add((swapped, flipped))
    assert seen == {(False, False), (False, True), (True, False), (True, True)}


def test_disabled_augmentation_is_the_identity():
    aug = PairAugmentation(AugmentationConfig(horizontal_flip=False, time_flip=False, jitter=JitterConfig()))
    item = _item()
    out = aug(item, np.random.default_rng(0))
    for key in ("source", "driving", "refs", "frame_indices"):
        assert torch.equal(out[key], item[key])


def test_jitter_uses_one_draw_for_all_frames_and_matches_torchvision():
    aug = PairAugmentation(AugmentationConfig(False, False, JitterConfig(0.3, 0.3, 0.3, 0.1)))
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
    config = AugmentationConfig(True, True, JitterConfig(0.1, 0.1, 0.1, 0.1))
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
