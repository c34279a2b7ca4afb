"""The one way to make a method: from its config, then (optionally) weights from a checkpoint.

Like timm's ``build_model_with_cfg``, one builder covers every source of a method: a fresh model
from its config, a motionbench checkpoint (its ``model`` state dict, strictly), or an official
checkpoint (``official=True``: the file's entries filtered onto the method's sub-networks by
:func:`bench.methods.official.load_official`). A checkpoint is given as a path (read once by
:func:`bench.checkpoints.read_checkpoint`) or as contents already read; each method is built once.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from bench.checkpoints import CheckpointFile, read_checkpoint, validated
from bench.errors import CheckpointError, ConfigError, UserError, first_line
from bench.methods.base import Method
from bench.methods.official import load_official
from bench.methods.registry import METHODS

Checkpoint = str | Path | CheckpointFile | Mapping[str, Any]


def _instantiate(name: str, config: Mapping[str, Any] | None) -> Method:
    """A fresh method from its config; a config the method rejects is one line naming it."""
    factory = METHODS.get(name).factory_function()
    try:
        method = factory(config)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ConfigError(f"method '{name}' cannot be built from its config: {first_line(exc)}") from None
    method.name = name
    return method


def _contents(checkpoint: Checkpoint, trusted: bool) -> tuple[Mapping[str, Any], str]:
    """The checkpoint's contents and how errors name it."""
    if isinstance(checkpoint, (str, Path)):
        checkpoint = read_checkpoint(checkpoint, trusted)
    if isinstance(checkpoint, CheckpointFile):
        return checkpoint.data, str(checkpoint.path)
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"checkpoint must be a path or a dict of state dicts, got {type(checkpoint).__name__}")
    return checkpoint, "checkpoint"


def key_mismatch(missing: list[str], unexpected: list[str]) -> str:
    """``3 missing key(s), e.g. 'a', 'b'; 1 unexpected key(s), e.g. 'c'``: the informative part of a failed load."""
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected)):
        if keys:
            parts.append(f"{len(keys)} {label} key(s), e.g. {', '.join(repr(k) for k in keys[:3])}")
    return "; ".join(parts)


def load_ours(method: Method, data: Mapping[str, Any], where: str) -> None:
    """A motionbench checkpoint's ``model`` state dict, strictly; a mismatch names the first keys that differ."""
    state = data["model"]
    expected = method.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        detail = key_mismatch(missing, unexpected)
        if wrong:
            shapes = f"{tuple(state[wrong[0]].shape)} vs {tuple(expected[wrong[0]].shape)}"
            detail += ("; " if detail else "") + f"{len(wrong)} of another shape, e.g. {wrong[0]!r} {shapes}"
        raise CheckpointError(f"{where} does not fit method '{method.name}' with this config: {detail}")
    method.load_state_dict(state, strict=True)


def build_method(name: str | None = None, config: Mapping[str, Any] | None = None,
                 checkpoint: Checkpoint | None = None, *, official: bool = False, trusted: bool = False) -> Method:
    """Method ``name`` from ``config`` (None: our checkpoint's own config, else the method's defaults), with the
    weights of ``checkpoint`` when given (ours, or an official one with ``official``); in eval mode when weights
    were loaded. Without ``name``, our checkpoint's method. ``trusted`` allows a full pickle load of a checkpoint
    path (only for files you trust)."""
    if name is None:
        if checkpoint is None or official:
            raise UserError("build_method needs a method name (or one of our checkpoints, which names its method)")
        data, where = _contents(checkpoint, trusted)
        return build_method(validated(data, where)["method"], config, data)
    if official and not METHODS.get(name).official:
        choices = ", ".join(n for n in METHODS.ordered() if METHODS.get(n).official)
        raise UserError(f"no official checkpoint format for method '{name}'; choose from: {choices}")
    if checkpoint is None:
        return _instantiate(name, config)
    data, where = _contents(checkpoint, trusted)
    if not official:
        data = validated(data, where)
        if data["method"] != name:
            raise CheckpointError(f"{where} is for method '{data['method']}', not '{name}'")
    method = _instantiate(name, data["config"] if config is None and not official else config)
    if official:
        load_official(method, data, where)
    else:
        load_ours(method, data, where)
    return method.eval()
