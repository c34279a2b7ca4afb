"""The method a run evaluates: from our checkpoint, an official one, or a fresh config.

Whatever the source, the run records the method's model config and its hash, the checkpoint
file's SHA-256 and the dataset the weights were trained on (generality runs test on another).
The checkpoint file is read once, here; the planned method is built from what was read.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from bench.checkpoints import CheckpointFile, check_compatible, config_hash, ours, read_checkpoint
from bench.config import apply_overrides, config_path, load_yaml
from bench.errors import CheckpointError, ConfigError, UserError
from bench.methods import METHODS, build_method
from bench.methods.base import Method
from bench.runner.settings import RunSettings


@dataclass
class MethodPlan:
    """Everything about the method that identifies a run, plus the checkpoint contents read once."""

    name: str
    config: dict[str, Any]
    config_hash: str
    config_source: str
    checkpoint: str | None
    checkpoint_sha256: str | None
    train_dataset: str | None
    origin: str  # 'checkpoint', 'official', 'config' until built; then 'random-init' (learned weights left at their
    # initial values) or 'none' (nothing to learn)
    read: CheckpointFile | None = None  # the checkpoint file, read once

    def record(self) -> dict[str, Any]:
        """What the run's params record about the method."""
        return {"config_hash": self.config_hash, "config_source": self.config_source, "config": self.config,
                "origin": self.origin, "checkpoint": self.checkpoint or "none",
                "checkpoint_sha256": self.checkpoint_sha256 or "none",
                "train_dataset": self.train_dataset or "unknown"}


def model_params(data: Mapping[str, Any]) -> dict[str, Any]:
    """The model part of a method YAML (its ``model_params`` section, as in the official files)."""
    params = data.get("model_params", data)
    if not isinstance(params, Mapping):
        raise ConfigError("config key 'model_params': expected a mapping")
    return dict(params)


def _config_file(settings: RunSettings) -> Path | None:
    """``--config``, else ``configs/methods/<method>/<dataset>.yaml``; None when there is none
    (the method's built-in defaults, e.g. copy-source which has no parameters)."""
    if settings.config:
        return Path(settings.config)
    path = config_path("methods", settings.method, f"{settings.dataset}.yaml")
    return path if path.is_file() else None


def _with_refs(config: dict[str, Any], refs: int) -> dict[str, Any]:
    """The protocol's N (``--refs``, default 3) also sets the model's ``num_refs`` where its config has one (SADM)."""
    if "num_refs" in config:
        config = {**config, "num_refs": refs}
    return config


def plan_method(settings: RunSettings) -> MethodPlan:
    """Resolve config, hashes and training dataset of the method ``settings`` describe (reads the
    checkpoint file once): the base config (our checkpoint's, else ``--config`` or the preset) with the
    ``--set`` overrides and the protocol's N applied."""
    if settings.official and not METHODS.get(settings.method).official:
        choices = ", ".join(n for n in METHODS.ordered() if METHODS.get(n).official)
        raise UserError(f"--official: method '{settings.method}' has no official checkpoint format "
                        f"(methods with one: {choices})")
    if settings.random_init and settings.checkpoint:
        raise UserError("--random-init evaluates untrained weights: drop it or drop --checkpoint")
    read = read_checkpoint(settings.checkpoint, settings.trusted) if settings.checkpoint else None
    base, source, train, origin = _base_config(settings, read)
    config = _with_refs(apply_overrides(base, settings.overrides), settings.num_refs)
    return MethodPlan(settings.method, config, config_hash(config), source, settings.checkpoint,
                      read.sha256 if read else None, train, origin, read)


def _base_config(settings: RunSettings, read: CheckpointFile | None) -> tuple[dict[str, Any], str, str | None, str]:
    """(config before overrides, where it comes from, training dataset, origin of the weights)."""
    if read is not None and not settings.official:
        meta = ours(read)
        check_compatible(meta, expected_method=settings.method, where=read.path)
        return (dict(meta["config"]), f"checkpoint {settings.checkpoint}",
                settings.train_dataset or meta.get("train_dataset"), "checkpoint")
    if read is not None and read.is_motionbench:
        raise CheckpointError(f"{read.path} is a motionbench checkpoint, not an official one: drop --official")
    source = _config_file(settings)
    if source is None and settings.official:
        raise UserError(f"no config for method '{settings.method}' on dataset '{settings.dataset}': pass --config "
                        "with the official YAML (its model_params are used)")
    base = model_params(load_yaml(source)) if source is not None else {}
    return base, str(source or "defaults"), settings.train_dataset, "official" if read is not None else "config"


def untrained_origin(settings: RunSettings, method: Method) -> str:
    """The origin of a method built from its config alone: 'none' when it has no weights to learn (copy-source),
    'random-init' when asked for; otherwise evaluating it would put an untrained model in the tables: one line
    says what to pass."""
    if next(method.parameters(), None) is None:
        return "none"
    if not settings.random_init:
        raise UserError(f"method '{settings.method}' has learned weights: pass --checkpoint FILE (a bench train "
                        f"checkpoint), --official --checkpoint FILE (an official one), or --random-init to "
                        f"evaluate its untrained initial weights")
    return "random-init"


def build_planned(plan: MethodPlan) -> Method:
    """Build the planned method once, with the weights of the checkpoint read by :func:`plan_method` (our
    checkpoint's state dict loads into the planned config, ``--set`` / ``--refs`` changes included: a
    change that does not fit the weights names the keys that differ), in eval mode."""
    if plan.read is None:
        return build_method(plan.name, plan.config).eval()
    try:
        return build_method(plan.name, plan.config, plan.read, official=plan.origin == "official")
    except CheckpointError as exc:
        if plan.origin == "checkpoint" and config_hash(plan.read.data["config"]) != plan.config_hash:
            raise UserError(f"the --set/--refs changes do not fit checkpoint {plan.checkpoint}: {exc}") from None
        raise
