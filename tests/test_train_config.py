"""Training strategies: every method has one per dataset, with its official config's values, and they validate."""
from __future__ import annotations

import warnings

import pytest
import torch

from bench.config import to_dict
from bench.datasets import DATASETS
from bench.errors import ConfigError
from bench.training.config import (for_stage, load_train_config, split_overrides, train_config_from,
                                   train_config_path)
from tests.fomm_mraa_reference import load_fixture

PAPER = ("vox", "dfdc", "nemo", "taichi", "aist", "fashion", "bair", "mgif")
METHODS = ("fomm", "mraa", "sadm")


@pytest.mark.parametrize("method", METHODS)
def test_every_registered_dataset_has_a_valid_preset(method):
    for name in DATASETS.names():
        if name.startswith("tiny-test"):
            continue
        assert train_config_path(method, name).is_file(), (method, name)
        config = load_train_config(method, name)  # validates every stage section too
        if name != "synthetic":  # the tiny preset's short schedule uses a larger step (see its comment)
            assert config.lr == pytest.approx(2e-4), name
        assert config.betas == [0.5, 0.999] and config.gamma == pytest.approx(0.1), name
        assert config.augmentation.horizontal_flip and config.augmentation.time_flip, name
        assert max(config.epoch_milestones, default=0) < config.num_epochs, name
        assert set(config.stages) == ({"avd"} if method == "mraa" else set()), name
    assert set(PAPER) <= set(DATASETS.names())


@pytest.mark.parametrize("name, epochs, repeats, milestones, batch, id_sampling", [
    ("vox", 100, 75, [60, 90], 40, True),       # first-order-model config/vox-256.yaml
    ("taichi", 100, 150, [60, 90], 30, True),   # taichi-256.yaml
    ("nemo", 100, 8, [60, 90], 36, False),      # nemo-256.yaml
    ("fashion", 100, 50, [60, 90], 27, False),  # fashion-256.yaml
    ("bair", 20, 1, [12, 18], 36, False),       # bair-256.yaml
    ("mgif", 100, 25, [60, 90], 36, False),     # mgif-256.yaml
])
def test_fomm_presets_carry_the_official_values(name, epochs, repeats, milestones, batch, id_sampling):
    c = load_train_config("fomm", name)
    assert (c.num_epochs, c.num_repeats, c.epoch_milestones, c.batch_size, c.id_sampling) == \
        (epochs, repeats, milestones, batch, id_sampling)
    assert c.sync_bn, "FOMM synchronises BatchNorm (DataParallelWithCallback)"


@pytest.mark.parametrize("name, repeats, avd_repeats", [
    ("vox", 75, 2000),      # articulated-animation config/vox256.yaml
    ("taichi", 150, 150),   # taichi256.yaml
    ("mgif", 50, 50),       # mgif256.yaml
])
def test_mraa_presets_carry_the_official_values(name, repeats, avd_repeats):
    c = load_train_config("mraa", name)
    assert (c.num_epochs, c.num_repeats, c.epoch_milestones, c.batch_size, c.sync_bn) == \
        (100, repeats, [60, 90], 14, False)
    avd = for_stage(c, "avd")
    assert (avd.num_epochs, avd.num_repeats, avd.batch_size, avd.lr) == (30, avd_repeats, 256, pytest.approx(1e-3))
    assert avd.loss_weights == {"rec_shift": 1, "rec_affine": 1} and avd.options == {"random_scale": 0.25}
    assert avd.augmentation == c.augmentation and avd.id_sampling == c.id_sampling, "the same dataset"


@pytest.mark.parametrize("fixture, method, dataset, config_file", [
    ("fomm-losses-face", "fomm", "vox", "config/vox-256.yaml"),
    ("fomm-losses-gan-body", "fomm", "bair", "config/bair-256.yaml"),
    ("mraa-losses-body", "mraa", "vox", "config/vox256.yaml"),
])
def test_presets_hold_the_fixtures_official_train_params(shared_dir, fixture, method, dataset, config_file):
    """The official train_params stored in the fixtures (where only the batch size was changed)."""
    official = load_fixture(fixture)
    assert official["meta"]["official_train_params_from"] == config_file
    params, config = official["train_params"], load_train_config(method, dataset)
    assert (config.num_epochs, config.num_repeats, config.epoch_milestones, config.checkpoint_every) == \
        (params["num_epochs"], params["num_repeats"], params["epoch_milestones"], params["checkpoint_freq"])
    assert config.lr == params.get("lr", params.get("lr_generator"))
    assert config.lr_discriminator == params.get("lr_discriminator")
    assert config.sync_bn == params.get("use_sync_bn", True)  # FOMM always synchronises, MRAA per use_sync_bn


def test_mraa_avd_stage_holds_the_fixtures_official_train_avd_params(shared_dir):
    avd = load_fixture("mraa-avd-face")["train_avd_params"]
    config = for_stage(load_train_config("mraa", "vox"), "avd")
    assert (config.num_epochs, config.num_repeats, config.lr) == (avd["num_epochs"], avd["num_repeats"], avd["lr"])
    assert config.options["random_scale"] == avd["random_scale"]
    assert config.loss_weights == {"rec_shift": avd["lambda_shift"], "rec_affine": avd["lambda_affine"]}
    assert config.num_workers == avd["dataloader_workers"]


def lrs(milestones: list[int], epochs: int, epoch_argument: bool) -> list[float]:
    """Learning rate of each epoch under MultiStepLR stepped once per epoch, with or without the
    (deprecated) epoch argument that train_avd.py passes."""
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the epoch argument's deprecation warning
        for epoch in range(epochs):
            out.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step(epoch) if epoch_argument else scheduler.step()
    return out


def test_avd_milestones_reproduce_train_avds_scheduler_step_epoch(shared_dir):
    official = load_fixture("mraa-avd-face")["train_avd_params"]
    ours = for_stage(load_train_config("mraa", "vox"), "avd")
    assert lrs(ours.epoch_milestones, ours.num_epochs, False) == pytest.approx(
        lrs(official["epoch_milestones"], official["num_epochs"], True))


def test_sadm_follows_fomms_strategy():
    for name in PAPER:
        sadm, fomm = to_dict(load_train_config("sadm", name)), to_dict(load_train_config("fomm", name))
        for key in ("num_refs", "lr_discriminator"):  # SADM fuses reference views and has no discriminator
            sadm.pop(key), fomm.pop(key)
        assert sadm == fomm, name


def test_augmentation_follows_the_official_dataset_params():
    for method in METHODS:
        assert load_train_config(method, "nemo").augmentation.jitter.hue == 0  # nemo-256.yaml has no jitter
        mgif = load_train_config(method, "mgif").augmentation
        assert mgif.jitter.hue == pytest.approx(0.5)
        assert (mgif.resize.ratio, mgif.crop.size) == ([0.9, 1.1], [256, 256])
        assert load_train_config(method, "vox").augmentation.resize is None
        fashion = load_train_config(method, "fashion").augmentation.jitter
        assert (fashion.brightness, fashion.hue) == (0, pytest.approx(0.1))


def test_overrides_and_validation():
    train, model = split_overrides(["train.batch_size=4", "train.augmentation.jitter.hue=0", "model.num_kp=5"])
    assert train == {"batch_size": 4, "augmentation": {"jitter": {"hue": 0}}} and model == {"num_kp": 5}
    config = load_train_config("fomm", "vox", overrides=train)
    assert config.batch_size == 4 and config.augmentation.jitter.hue == 0
    assert config.augmentation.jitter.brightness == pytest.approx(0.1), "merge keeps sibling keys"
    base = {"num_epochs": 2, "num_repeats": 1, "epoch_milestones": [1], "batch_size": 2}
    with pytest.raises(ConfigError, match="train.epoch_milestones"):
        train_config_from({**base, "epoch_milestones": [3, 1]})
    with pytest.raises(ConfigError, match="train.loss_weights.perceptual"):
        train_config_from({**base, "loss_weights": {"perceptual": "ten"}})
    with pytest.raises(ConfigError, match="missing config key 'train.batch_size'"):
        train_config_from({k: v for k, v in base.items() if k != "batch_size"})
    with pytest.raises(ConfigError, match="no training preset of method 'fomm' for dataset 'no-such-dataset'"):
        load_train_config("fomm", "no-such-dataset")
    with pytest.raises(ConfigError, match="train.augmentation.resize.ratio"):
        train_config_from({**base, "augmentation": {"resize": {"ratio": [1.1, 0.9]}}})


def test_a_stage_takes_its_section_over_the_rest():
    base = {"num_epochs": 2, "num_repeats": 1, "epoch_milestones": [1], "batch_size": 2, "lr": 0.5,
            "stages": {"extra": {"num_epochs": 5, "batch_size": 8, "options": {"k": 1}}}}
    config = train_config_from(base)
    stage = for_stage(config, "extra", {"batch_size": 4})
    assert (stage.num_epochs, stage.batch_size, stage.lr, stage.options, stage.stages) == (5, 4, 0.5, {"k": 1}, {})
    assert for_stage(config, "main") == config
    with pytest.raises(ConfigError, match="no section 'stages.other'"):
        for_stage(config, "other")
    with pytest.raises(ConfigError, match="unknown config key 'train.stages.extra.num_epochz'"):
        train_config_from({**base, "stages": {"extra": {"num_epochz": 3}}})
