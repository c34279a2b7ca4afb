"""Training strategies: one YAML per method and dataset in ``configs/train/<method>/<dataset>.yaml``,
with the values of that method's official config (see each file's header)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from bench.config import apply_overrides, config_path, from_dict, load_yaml, to_dict
from bench.errors import ConfigError
from bench.methods.base import MAIN_STAGE


@dataclass
class JitterConfig:
    """Colour jitter ranges, as torchvision's ``ColorJitter`` (0 disables a component)."""

    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0


@dataclass
class ResizeConfig:
    """Official ``resize_param`` (MGif): every frame of a sample resized by one factor drawn from
    U(``ratio``) (``int(side * factor)``, nearest neighbour)."""

    ratio: list[float]

    def __post_init__(self) -> None:
        if len(self.ratio) != 2 or not 0 < self.ratio[0] <= self.ratio[1]:
            raise ConfigError(f"config key 'train.augmentation.resize.ratio' needs two increasing positive "
                              f"factors, got {self.ratio}")


@dataclass
class CropConfig:
    """Official ``crop_param``: every frame of a sample cropped to ``size`` (height, width) at one
    random offset, after edge padding where it is smaller."""

    size: list[int]

    def __post_init__(self) -> None:
        if len(self.size) != 2 or min(self.size) < 1:
            raise ConfigError(f"config key 'train.augmentation.crop.size' needs a height and a width, got {self.size}")


@dataclass
class AugmentationConfig:
    """FOMM's / MRAA's ``augmentation_params``, applied in the official order: flip (time flip with
    probability 1/2, else horizontal flip with probability 1/2: never both), resize, crop, jitter."""

    horizontal_flip: bool = True
    time_flip: bool = True
    resize: ResizeConfig | None = None
    crop: CropConfig | None = None
    jitter: JitterConfig = field(default_factory=JitterConfig)


@dataclass
class TrainConfig:
    """One epoch is ``num_repeats`` passes over the identities (``id_sampling``) or the videos.

    ``batch_size`` is the global batch: under torchrun each of the N processes takes
    ``batch_size / N`` (it must divide). ``lr`` drops by ``gamma`` at each of ``epoch_milestones``
    (for the model and, with its own Adam, a method's discriminator at ``lr_discriminator``,
    default ``lr``, with ``betas_discriminator``, default ``betas``); ``loss_weights`` multiply
    the method's loss terms by name (terms not named keep weight 1); ``checkpoint_every`` is in
    epochs, ``log_every`` and ``sample_every`` in optimiser steps; ``frame_size`` resizes frames
    (null: native size); ``num_refs`` reference frames go to
    methods that use them; ``sync_bn`` synchronises BatchNorm statistics over the processes
    (SyncBatchNorm, CUDA). ``stages`` holds the settings of a method's extra training stages
    (``bench train --stage NAME``), each merged over the rest of this config; ``options`` are
    the stage's method-specific settings.
    """

    num_epochs: int
    num_repeats: int
    epoch_milestones: list[int]
    batch_size: int
    lr: float = 2.0e-4
    lr_discriminator: float | None = None
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    betas_discriminator: list[float] | None = None
    gamma: float = 0.1
    checkpoint_every: int = 50
    loss_weights: dict[str, float] = field(default_factory=dict)
    id_sampling: bool = True
    num_refs: int = 3
    frame_size: int | None = None
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    sync_bn: bool = False
    num_workers: int = 4
    seed: int = 0
    log_every: int = 10
    sample_every: int = 500
    find_unused_parameters: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        positive = {"num_epochs": self.num_epochs, "num_repeats": self.num_repeats, "batch_size": self.batch_size,
                    "checkpoint_every": self.checkpoint_every, "log_every": self.log_every,
                    "sample_every": self.sample_every}
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"config key 'train.{name}' must be at least 1, got {value}")
        for name in ("betas", "betas_discriminator"):
            betas = getattr(self, name)
            if betas is not None and (len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas)):
                raise ConfigError(f"config key 'train.{name}' needs two values in [0, 1) (Adam), got {betas}")
        for name in ("lr", "lr_discriminator", "gamma"):
            value = getattr(self, name, None)
            if value is not None and not value > 0:
                raise ConfigError(f"config key 'train.{name}' must be positive, got {value}")
        if self.frame_size is not None and self.frame_size < 1:
            raise ConfigError(f"config key 'train.frame_size' must be a positive size or null, got {self.frame_size}")
        if sorted(self.epoch_milestones) != list(self.epoch_milestones):
            raise ConfigError(f"config key 'train.epoch_milestones' must be increasing, got {self.epoch_milestones}")
        for name, value in self.loss_weights.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"config key 'train.loss_weights.{name}': expected a number, got {value!r}")
        if self.num_refs < 0 or self.num_workers < 0:
            raise ConfigError("config keys 'train.num_refs' and 'train.num_workers' must be >= 0")
        for name in self.stages:  # a typo in a later stage surfaces now, not after the first stage
            for_stage(self, name)


def for_stage(config: TrainConfig, stage: str, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """The settings of training ``stage``: this config itself for the main stage, else its
    ``stages.<stage>`` section merged over the rest; ``overrides`` (``--set train.*``) merged last."""
    data = to_dict(config)
    prefix = "train"
    if stage != MAIN_STAGE:
        if not isinstance(config.stages.get(stage), Mapping):
            raise ConfigError(f"the training strategy has no section 'stages.{stage}' for training stage '{stage}'")
        base = {k: v for k, v in data.items() if k not in ("stages", "options")}
        data, prefix = deep_merge(base, config.stages[stage]), f"train.stages.{stage}"
    return from_dict(TrainConfig, deep_merge(data, overrides or {}), prefix=prefix)


def train_config_path(method: str, dataset: str) -> Path:
    """The shipped strategy of ``method`` for ``dataset`` (``configs/train/<method>/<dataset>.yaml``)."""
    return config_path("train", method, f"{dataset}.yaml")


def load_train_config(method: str | None = None, dataset: str | None = None, file: str | Path | None = None,
                      overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Strategy from ``file`` (default: the method's preset for the dataset), with overrides merged in."""
    if file is None:
        if method is None or dataset is None:
            raise ConfigError("a training config needs a method and a dataset, or a file")
        file = train_config_path(method, dataset)
        if not Path(file).is_file():
            raise ConfigError(f"no training preset of method '{method}' for dataset '{dataset}' ({file}); "
                              "pass --train-config FILE")
    return train_config_from(load_yaml(file), overrides)


def train_config_from(data: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Validate a plain mapping (e.g. the one stored in a checkpoint) with overrides merged in."""
    merged = deep_merge(data, overrides or {})
    return from_dict(TrainConfig, merged, prefix="train")


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, mapping by mapping."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def split_overrides(items: list[str] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--set train.x=1 --set model.y=2`` -> (train overrides, model overrides) as nested mappings."""
    parsed = apply_overrides({}, items)
    unknown = sorted(set(parsed) - {"train", "model"})
    if unknown:
        raise ConfigError(f"--set {unknown[0]}...: keys start with 'train.' (strategy) or 'model.' (method config)")
    for section in ("train", "model"):
        if section in parsed and not isinstance(parsed[section], dict):
            raise ConfigError(f"--set {section}=...: give a key inside it, e.g. {section}.<key>=<value>")
    return parsed.get("train", {}), parsed.get("model", {})


__all__ = ["AugmentationConfig", "CropConfig", "JitterConfig", "ResizeConfig", "TrainConfig", "deep_merge",
           "for_stage", "load_train_config", "split_overrides", "to_dict", "train_config_from", "train_config_path"]
