"""Training cells of an experiment: the ``train`` section, one cell per (method, dataset, variant, seed).

::

    train:                          # train the checkpoints of the grid's trainable methods
      methods: [fomm, mraa]         # optional; default every trainable method of 'methods'
      seeds: [0, 1, 2]              # optional; one cell per seed (train.seed), runs tagged mb.train_seed
      epochs: 1                     # optional; train.num_epochs
      set: [train.batch_size=2]     # strategy (train.*) and model (model.*) overrides of every cell
      precision: fp64               # optional; default the grid's precision
      dataset: vox                  # optional; train on another dataset than the one evaluated on
      stages: [avd]                 # optional; later stages (MRAA / TPSMM's AVD network), each after the one before
      out: runs/{name}/train/{dataset}/{method}-{variant}   # default (+ -s<seed>)
      config: ..., train_config: ..., amp: false
      method_options: {fomm: {set: [...]}}   # a method's own train options
    variants:
      - {name: no_x, set: [x=false], train: {epochs: 50}}   # a variant's own train options

A variant's ``set`` (model_params of the evaluated model) trains that model: each ``K=V`` becomes
``model.K=V`` of its training cells; ``set`` lists of the sections add up (train, method, variant),
other keys replace. The evaluation cells of a trained method read the checkpoint its training cell
writes (``<out>/checkpoints[/<stage>]/last.pt``): a trained cell that also names a ``checkpoint``
is an error.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from bench import tracking
from bench.config import from_dict
from bench.errors import ConfigError
from bench.methods import METHODS
from bench.methods.base import MAIN_STAGE
from bench.precision import get_precision
from bench.runner.sweep import Link

SECTION_KEYS = ("methods", "method_options")


@dataclass
class TrainOptions:
    """The keys of a ``train`` section (and of a method's or variant's own)."""

    seeds: list[int] | None = None
    epochs: int | None = None
    set: list[str] = field(default_factory=list)
    precision: str | None = None
    config: str | None = None
    train_config: str | None = None
    out: str | None = None
    amp: bool = False
    dataset: str | None = None
    stages: list[str] = field(default_factory=list)


OPTION_KEYS = tuple(f.name for f in dataclasses.fields(TrainOptions))


@dataclass(frozen=True)
class TrainCell:
    """One training run of the experiment (one stage of it); ``previous`` the label of the stage before."""

    method: str
    dataset: str
    variant: str
    seed: int | None
    stage: str
    out: str
    root: str | None
    config: str | None
    train_config: str | None
    overrides: tuple[str, ...]
    epochs: int | None
    precision: str | None
    amp: bool
    previous: str | None = None

    @property
    def label(self) -> str:
        seed = "" if self.seed is None else f" seed={self.seed}"
        stage = "" if self.stage == MAIN_STAGE else f" stage={self.stage}"
        return f"{self.method}/{self.dataset}/{self.variant}{seed}{stage}/train"

    @property
    def key(self) -> str:
        """``mb.run_key`` of its MLflow run: everything that makes the checkpoint (and where it goes)."""
        return tracking.run_key(kind="train", method=self.method, dataset=self.dataset, variant=self.variant,
                                seed=self.seed, stage=self.stage, out=self.out, config=self.config,
                                train_config=self.train_config, overrides=list(self.overrides), epochs=self.epochs,
                                precision=self.precision, amp=self.amp, previous=self.previous)

    @property
    def checkpoint(self) -> Path:
        """The checkpoint it ends with (and resumes from): ``<out>/checkpoints[/<stage>]/last.pt``."""
        folder = Path(self.out) / "checkpoints"
        return (folder if self.stage == MAIN_STAGE else folder / self.stage) / "last.pt"

    def tags(self) -> dict[str, str]:
        return tracking.tags(run_key=self.key, variant=self.variant, train_seed=self.seed)


class Training:
    """The ``train`` section of an experiment: which methods it trains, and their cells (in the order
    they must run: a stage after the one before)."""

    def __init__(self, section: Any, name: str, methods: list[str], where: str) -> None:
        if not isinstance(section, Mapping):
            raise ConfigError(f"{where}: 'train' must be a mapping (keys: {', '.join(SECTION_KEYS + OPTION_KEYS)})")
        self.where, self.name = where, name
        self.top = _options(section, SECTION_KEYS + OPTION_KEYS, f"{where}, train")
        self.methods = _trained_methods(section.get("methods"), methods, where)
        self.per_method = _per_method(section.get("method_options"), self.methods, where)
        self.cells: dict[str, TrainCell] = {}

    def links(self, method: str, dataset: str, options: Mapping[str, Any], variant: Mapping[str, Any]) -> list[Link]:
        """The evaluation cell's training cells, one per seed (``bench.runner.sweep.Linker``)."""
        if method not in self.methods:
            return [Link()]
        label = f"{method}/{dataset}/{variant['name']}"
        if options.get("checkpoint") is not None or options.get("official"):
            raise ConfigError(f"{self.where}: cell {label} is trained by the experiment (train:) and also names a "
                              f"checkpoint: remove 'checkpoint' (or leave {method} out of train.methods)")
        merged = self._merged(method, variant, options)
        links = []
        for seed in merged.seeds or [None]:
            last = self._add_cells(method, dataset, str(variant["name"]), seed, merged, options)
            links.append(Link(seed, last.label, {"checkpoint": str(last.checkpoint)}))
        return links

    def _merged(self, method: str, variant: Mapping[str, Any], options: Mapping[str, Any]) -> TrainOptions:
        own = _options(variant.get("train") or {}, OPTION_KEYS, f"{self.where}, variant {variant['name']}, train")
        model = [f"model.{item}" for item in _as_strings(options.get("set"), f"{self.where}: set")]
        layers = (self.top, self.per_method.get(method, {}), own)
        merged = {k: v for layer in layers for k, v in layer.items() if k != "set"}
        merged["set"] = model + [item for layer in layers for item in _as_strings(layer.get("set"), "train.set")]
        merged.setdefault("precision", options.get("precision"))
        merged.setdefault("config", options.get("config"))
        result = from_dict(TrainOptions, merged, prefix="train")
        if result.precision is not None:
            get_precision(result.precision)
        if result.seeds is not None and (not result.seeds or len(set(result.seeds)) != len(result.seeds)):
            raise ConfigError(f"{self.where}: train.seeds must be a non-empty list of distinct integers")
        return result

    def _add_cells(self, method: str, dataset: str, variant: str, seed: int | None, opts: TrainOptions,
                   options: Mapping[str, Any]) -> TrainCell:
        """The cells of one training (main stage, then ``stages``); returns the last one."""
        fields = {"method": method, "dataset": dataset, "variant": variant, "name": self.name,
                  "seed": "" if seed is None else seed, "refs": ""}
        trained_on = _fill(opts.dataset, fields) if opts.dataset else dataset
        fields["dataset"] = trained_on
        out = _fill(opts.out, fields) if opts.out else (
            f"runs/{self.name}/train/{trained_on}/{method}-{variant}" + ("" if seed is None else f"-s{seed}"))
        overrides = tuple(opts.set) + (() if seed is None else (f"train.seed={seed}",))
        root = options.get("root")
        previous = None
        for stage in (MAIN_STAGE, *opts.stages):
            cell = TrainCell(method, trained_on, variant, seed, stage, out, _fill(root, fields) if root else None,
                             _fill(opts.config, fields) if opts.config else None,
                             _fill(opts.train_config, fields) if opts.train_config else None, overrides,
                             opts.epochs, opts.precision, opts.amp, previous)
            if self.cells.setdefault(cell.label, cell) != cell:
                raise ConfigError(f"{self.where}: training cell {cell.label} is asked for with different train "
                                  "options (variants of one name must train the same model)")
            previous = cell.label
        return self.cells[previous]


def _fill(value: str, fields: Mapping[str, Any]) -> str:
    try:
        return str(value).format(**fields)
    except (KeyError, IndexError) as exc:
        raise ConfigError(f"placeholder {exc} in '{value}' (use {{method}}, {{dataset}}, {{variant}}, {{name}}, "
                          "{seed})") from None


def _as_strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ConfigError(f"{where} must be a list of KEY=VALUE strings, got {value!r}")
    return [str(item) for item in items]


def _options(section: Any, allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where} must be a mapping (keys: {', '.join(allowed)})")
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' (valid: {', '.join(allowed)})")
    return {k: v for k, v in section.items() if k not in SECTION_KEYS}


def _trained_methods(value: Any, methods: list[str], where: str) -> list[str]:
    """``train.methods`` (each in the grid and trainable), else every trainable method of the grid."""
    if value is None:
        return [m for m in methods if m in METHODS and METHODS.get(m).trainable]
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names:
        raise ConfigError(f"{where}: train.methods must be a non-empty list of method names")
    for name in names:
        if name not in methods:
            raise ConfigError(f"{where}: train.methods names '{name}', which is not in methods")
        if not METHODS.get(name).trainable:
            raise ConfigError(f"{where}: train.methods names '{name}', which is evaluation-only (no training code)")
    return [str(n) for n in names]


def _per_method(value: Any, methods: list[str], where: str) -> dict[str, dict[str, Any]]:
    value = value or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: train.method_options must map method names to train options")
    for method, options in value.items():
        if method not in methods:
            raise ConfigError(f"{where}: train.method_options names '{method}', which is not trained")
    return {str(m): _options(o, OPTION_KEYS, f"{where}, train.method_options.{m}") for m, o in value.items()}
