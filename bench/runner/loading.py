"""The method a run evaluates: from our checkpoint, an official FOMM/MRAA one, or a fresh config.

Whatever the source, the run records the method's model config and its hash, the checkpoint
file's SHA-256 and the dataset the weights were trained on (generality runs test on another).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from bench.checkpoints import config_hash, load_checkpoint, load_method
from bench.config import apply_overrides, config_path, load_yaml
from bench.errors import ConfigError, UserError
from bench.methods import build_method
from bench.methods.base import Method
from bench.runner.settings import RunSettings


@dataclass
class MethodPlan:
    """Everything about the method that identifies a run, resolved without building networks."""

    name: str
    config: dict[str, Any]
    config_hash: str
    config_source: str
    checkpoint: str | None
    checkpoint_sha256: str | None
    train_dataset: str | None
    origin: str  # 'checkpoint', 'official' or 'config'


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def _with_refs(config: dict[str, Any], refs: int | None) -> dict[str, Any]:
    """``--refs N`` also sets the model's ``num_refs`` where its config has one (SADM)."""
    if refs is not None and "num_refs" in config:
        config = {**config, "num_refs": refs}
    return config


def plan_method(settings: RunSettings) -> MethodPlan:
    """Resolve config, hashes and training dataset of the method ``settings`` describe."""
    sha = file_sha256(settings.checkpoint) if settings.checkpoint and Path(settings.checkpoint).is_file() else None
    if settings.checkpoint and sha is None:
        raise UserError(f"checkpoint not found: {settings.checkpoint}")
    if settings.checkpoint and settings.official is None:
        meta = load_checkpoint(settings.checkpoint)
        if meta["method"] != settings.method:
            raise UserError(f"checkpoint {settings.checkpoint} is for method '{meta['method']}', not '{settings.method}'")
        config = _with_refs(apply_overrides(meta["config"], settings.overrides), settings.refs)
        train = settings.train_dataset or meta.get("train_dataset")
        return MethodPlan(settings.method, config, config_hash(config), f"checkpoint {settings.checkpoint}",
                          settings.checkpoint, sha, train, "checkpoint")
    source = _config_file(settings)
    if source is None and settings.official:
        raise UserError(f"no config for method '{settings.official}' on dataset '{settings.dataset}': pass --config "
                        "with the official YAML (its model_params are used)")
    base = model_params(load_yaml(source)) if source is not None else {}
    config = _with_refs(apply_overrides(base, settings.overrides), settings.refs)
    origin = "official" if settings.official else "config"
    return MethodPlan(settings.method, config, config_hash(config), str(source or "defaults"), settings.checkpoint, sha,
                      settings.train_dataset, origin)


def build_planned(plan: MethodPlan, trusted: bool = False) -> Method:
    """Build the planned method (weights loaded where a checkpoint is given), in eval mode."""
    if plan.origin == "official":
        from bench.methods.official import from_official

        return from_official(plan.name, plan.config, plan.checkpoint, trusted=trusted).eval()
    if plan.origin == "checkpoint":
        trained, meta = load_method(plan.checkpoint, expected_method=plan.name, trusted=trusted)
        if config_hash(meta["config"]) == plan.config_hash:
            return trained
        method = _build(plan)  # --set / --refs changed the config
        try:
            method.load_state_dict(trained.state_dict(), strict=True)
        except RuntimeError as exc:
            raise UserError(f"the --set/--refs changes do not fit checkpoint {plan.checkpoint}: "
                            f"{str(exc).strip().splitlines()[0][:200]}") from None
        return method.eval()
    return _build(plan).eval()


def _build(plan: MethodPlan) -> Method:
    """A fresh method from the planned config; a config the method rejects is a user error."""
    try:
        return build_method(plan.name, plan.config)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"method '{plan.name}' rejects its config ({plan.config_source}): {exc}") from None
