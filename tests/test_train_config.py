"""Training strategy presets: every dataset has one, with FOMM's values, and they validate."""
from __future__ import annotations

import pytest

from bench.datasets import DATASETS
from bench.errors import ConfigError
from bench.training.config import load_train_config, split_overrides, train_config_from, train_config_path

PAPER = ("vox", "dfdc", "nemo", "taichi", "aist", "fashion", "bair", "mgif")


def test_every_registered_dataset_has_a_valid_preset():
    for name in DATASETS.names():
        if name.startswith("tiny-test"):
            continue
        assert train_config_path(name).is_file(), name
        config = load_train_config(name)
        if name != "synthetic":  # the tiny preset's short schedule uses a larger step (see its comment)
            assert config.lr == pytest.approx(2e-4), name
        assert config.betas == [0.5, 0.999], name
        assert config.augmentation.horizontal_flip and config.augmentation.time_flip, name
        assert max(config.epoch_milestones, default=0) < config.num_epochs, name
    assert set(PAPER) <= set(DATASETS.names())


@pytest.mark.parametrize("name, epochs, repeats, milestones, batch, id_sampling", [
    ("vox", 100, 75, [60, 90], 40, True),       # FOMM config/vox-256.yaml
    ("taichi", 100, 150, [60, 90], 30, True),   # taichi-256.yaml
    ("nemo", 100, 8, [60, 90], 36, False),      # nemo-256.yaml
    ("fashion", 100, 50, [60, 90], 27, False),  # fashion-256.yaml
    ("bair", 20, 1, [12, 18], 36, False),       # bair-256.yaml
    ("mgif", 100, 25, [60, 90], 36, False),     # mgif-256.yaml
])
def test_presets_carry_fomm_values(name, epochs, repeats, milestones, batch, id_sampling):
    c = load_train_config(name)
    assert (c.num_epochs, c.num_repeats, c.epoch_milestones, c.batch_size, c.id_sampling) == \
        (epochs, repeats, milestones, batch, id_sampling)


def test_jitter_follows_fomm_per_dataset():
    assert load_train_config("nemo").augmentation.jitter.hue == 0  # nemo-256.yaml has no jitter
    assert load_train_config("mgif").augmentation.jitter.hue == pytest.approx(0.5)
    fashion = load_train_config("fashion").augmentation.jitter
    assert (fashion.brightness, fashion.hue) == (0, pytest.approx(0.1))


def test_overrides_and_validation():
    train, model = split_overrides(["train.batch_size=4", "train.augmentation.jitter.hue=0", "model.num_kp=5"])
    assert train == {"batch_size": 4, "augmentation": {"jitter": {"hue": 0}}} and model == {"num_kp": 5}
    config = load_train_config("vox", overrides=train)
    assert config.batch_size == 4 and config.augmentation.jitter.hue == 0
    assert config.augmentation.jitter.brightness == pytest.approx(0.1), "merge keeps sibling keys"
    base = {"num_epochs": 2, "num_repeats": 1, "epoch_milestones": [1], "batch_size": 2}
    with pytest.raises(ConfigError, match="train.epoch_milestones"):
        train_config_from({**base, "epoch_milestones": [3, 1]})
    with pytest.raises(ConfigError, match="train.loss_weights.perceptual"):
        train_config_from({**base, "loss_weights": {"perceptual": "ten"}})
    with pytest.raises(ConfigError, match="missing config key 'train.batch_size'"):
        train_config_from({k: v for k, v in base.items() if k != "batch_size"})
    with pytest.raises(ConfigError, match="no training preset"):
        load_train_config("no-such-dataset")
