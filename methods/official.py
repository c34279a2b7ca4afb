"""Load official checkpoints (FOMM, MRAA, TPSMM, LivePortrait repositories) into this project's methods.

An official checkpoint is a dict with one state dict per sub-network under the official names
(plus optimizer state and other entries that are ignored), or a folder of files that the method
maps onto its sub-networks (``Method.official_checkpoint``: LivePortrait's five files). A method
supports them when its registration says ``official=True`` and its ``networks()`` returns those
sub-networks; the ones it
lists in ``Method.optional_networks`` may be absent from a file (TPSMM: the official loader
loads ``bg_predictor`` and ``avd_network`` only when present). Files are read with
:func:`bench.checkpoints.read_checkpoint` (``weights_only`` unless ``trusted``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from torch import nn

from bench.checkpoints import CheckpointError, read_checkpoint
from bench.errors import UserError
from bench.methods.base import Method


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
    """Build method ``name`` from ``model_params`` and load an official checkpoint (a path or its dict).

    Every sub-network of ``method.networks()`` must be present and match exactly, except those in the
    method's ``optional_networks``, which keep their initial weights when absent (TPSMM's background
    predictor before ``bg_start``: the identity); other entries (optimizers, FOMM's discriminator,
    epoch) are ignored. A training stage of the method whose networks the checkpoint holds counts as
    trained (MRAA's and TPSMM's AVD network: official ``avd`` animation). Returns the method in eval mode.
    """
    from bench.methods import METHODS, build_method

    spec = METHODS.get(name)
    if not spec.official:
        choices = ", ".join(n for n in METHODS.ordered() if METHODS.get(n).official)
        raise UserError(f"no official checkpoint format for method '{name}'; choose from: {choices}")
    data = read_checkpoint(checkpoint, trusted).data if isinstance(checkpoint, (str, Path)) else checkpoint
    if not isinstance(data, Mapping):
        raise CheckpointError(f"checkpoint must be a path or a dict of state dicts, got {type(data).__name__}")
    method = build_method(name, model_params)
    data = method.official_checkpoint(data, str(checkpoint) if isinstance(checkpoint, (str, Path)) else "checkpoint")
    nets = method.networks()
    optional = set(method.optional_networks)
    absent = [n for n in nets if n not in data and n not in optional]
    if absent:
        needed = ", ".join(n + (" (optional)" if n in optional else "") for n in nets)
        raise CheckpointError(f"checkpoint has no '{absent[0]}' (a {name} checkpoint needs: {needed}; "
                              f"found: {', '.join(map(str, data)) or 'nothing'})")
    for net_name, net in nets.items():
        if net_name in data:
            _load_network(net_name, net, data[net_name])
    for stage in method.stages:  # published checkpoints are saved after every stage that trains what they hold
        if all(net in data for net in stage.networks):
            method.mark_stage_trained(stage.name)
    return method.eval()
