"""The method a run evaluates: from our checkpoint, an official one, or a fresh config.

Whatever the source, the run records the method's model config and its hash, the checkpoint
file's SHA-256 and the dataset the weights were trained on (generality runs test on another).
The checkpoint file is read once, here; the planned method is built from what was read.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from bench.checkpoints import CheckpointError, check_compatible, config_hash, method_from, ours, read_checkpoint
from bench.config import apply_overrides, config_path, load_yaml
from bench.errors import ConfigError, UserError, first_line
from bench.methods import METHODS, build_method, from_official
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
    contents: Mapping[str, Any] | None = None

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
    checkpoint file once)."""
    spec = METHODS.get(settings.method)
    if settings.official and not spec.official:
        choices = ", ".join(n for n in METHODS.ordered() if METHODS.get(n).official)
        raise UserError(f"--official: method '{settings.method}' has no official checkpoint format "
                        f"(methods with one: {choices})")
    if settings.random_init and settings.checkpoint:
        raise UserError("--random-init evaluates untrained weights: drop it or drop --checkpoint")
    read = read_checkpoint(settings.checkpoint, settings.trusted) if settings.checkpoint else None
    if read is not None and not settings.official:
        meta = ours(read)
        check_compatible(meta, expected_method=settings.method, where=read.path)
        config = _with_refs(apply_overrides(meta["config"], settings.overrides), settings.num_refs)
        train = settings.train_dataset or meta.get("train_dataset")
        return MethodPlan(settings.method, config, config_hash(config), f"checkpoint {settings.checkpoint}",
                          settings.checkpoint, read.sha256, train, "checkpoint", meta)
    if read is not None and read.is_motionbench:
        raise CheckpointError(f"{read.path} is a motionbench checkpoint, not an official one: drop --official")
    origin = "official" if read is not None else "config"
    source = _config_file(settings)
    if source is None and settings.official:
        raise UserError(f"no config for method '{settings.method}' on dataset '{settings.dataset}': pass --config "
                        "with the official YAML (its model_params are used)")
    base = model_params(load_yaml(source)) if source is not None else {}
    config = _with_refs(apply_overrides(base, settings.overrides), settings.num_refs)
    return MethodPlan(settings.method, config, config_hash(config), str(source or "defaults"), settings.checkpoint,
                      read.sha256 if read else None, settings.train_dataset, origin, read.data if read else None)


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
    """Build the planned method (weights from the checkpoint read by :func:`plan_method`), in eval mode."""
    if plan.origin == "official":
        return from_official(plan.name, plan.config, plan.contents).eval()
    if plan.origin == "checkpoint":
        trained = method_from(plan.contents, plan.checkpoint)
        if config_hash(plan.contents["config"]) == plan.config_hash:
            return trained
        method = _build(plan)  # --set / --refs changed the config
        try:
            method.load_state_dict(trained.state_dict(), strict=True)
        except RuntimeError as exc:
            raise UserError(f"the --set/--refs changes do not fit checkpoint {plan.checkpoint}: "
                            f"{first_line(exc)}") from None
        return method.eval()
    return _build(plan).eval()


def _build(plan: MethodPlan) -> Method:
    """A fresh method from the planned config; a config the method rejects is a user error."""
    try:
        return build_method(plan.name, plan.config)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"method '{plan.name}' rejects its config ({plan.config_source}): {exc}") from None
