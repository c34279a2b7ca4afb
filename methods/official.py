"""Load official FOMM / MRAA checkpoints into this project's methods.

A checkpoint is a path to a ``.pth.tar`` / ``.pt`` file as published by the official
repositories (a dict with one state dict per sub-network, plus optimizer state that is
ignored), or such a dict directly. Files load with ``torch.load(weights_only=True)``
unless ``trusted=True``: unpickling can execute code, so only do that for files you trust.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from bench.errors import UserError
from bench.methods.base import Method


class CheckpointError(UserError):
    """A checkpoint cannot be read or does not match the configured networks."""


def _networks_of(name: str, model_params: Mapping[str, Any]) -> Method:
    from bench.methods.fomm import build_fomm
    from bench.methods.mraa import build_mraa

    builders = {"fomm": build_fomm, "mraa": build_mraa}
    if name not in builders:
        raise UserError(f"no official checkpoint format for method '{name}'; choose from: {', '.join(builders)}")
    return builders[name](model_params)


def read_checkpoint(path: str | Path, trusted: bool = False) -> dict[str, Any]:
    """Read a checkpoint file to a dict (safe ``weights_only`` load unless ``trusted``)."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        data = torch.load(p, map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError as exc:
        if trusted or "Unsupported global" not in str(exc):
            raise CheckpointError(f"cannot read checkpoint {p}: not a PyTorch checkpoint or corrupt") from None
        raise CheckpointError(f"checkpoint {p} holds objects other than tensors and needs a full pickle load, "
                              "which can run code: pass trusted=True only if you trust the file") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read checkpoint {p}: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    if not isinstance(data, Mapping):
        raise CheckpointError(f"checkpoint {p} holds a {type(data).__name__}, expected a dict of state dicts")
    return dict(data)


def _load_network(net_name: str, net: nn.Module, state: Any) -> None:
    if not isinstance(state, Mapping):
        raise CheckpointError(f"checkpoint entry '{net_name}' is a {type(state).__name__}, expected a state dict")
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
                parts.append(f"{label} {', '.join(keys[:3])}{more}")
        raise CheckpointError(f"checkpoint '{net_name}' does not match the config: {'; '.join(parts)}")
    net.load_state_dict(state, strict=True)


def from_official(name: str, model_params: Mapping[str, Any], checkpoint: str | Path | Mapping[str, Any],
                  trusted: bool = False) -> Method:
    """Build method ``name`` ('fomm' or 'mraa') from ``model_params`` and load an official checkpoint.

    Every sub-network the method has (FOMM: generator, kp_detector; MRAA: generator,
    region_predictor, bg_predictor, avd_network) must be present and match exactly; other
    entries (optimizers, discriminator, epoch) are ignored. Returns the method in eval mode.
    """
    method = _networks_of(name, model_params)
    data = read_checkpoint(checkpoint, trusted) if isinstance(checkpoint, (str, Path)) else checkpoint
    if not isinstance(data, Mapping):
        raise CheckpointError(f"checkpoint must be a path or a dict of state dicts, got {type(data).__name__}")
    nets = method.networks()
    absent = [n for n in nets if n not in data]
    if absent:
        raise CheckpointError(f"checkpoint has no '{absent[0]}' (a {name} checkpoint needs: {', '.join(nets)}; "
                              f"found: {', '.join(map(str, data)) or 'nothing'})")
    for net_name, net in nets.items():
        _load_network(net_name, net, data[net_name])
    method.name = name
    return method.eval()
