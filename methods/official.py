"""Official checkpoints (FOMM, MRAA, TPSMM, LivePortrait repositories) loaded into this project's methods.

An official checkpoint is a dict with one state dict per sub-network under the official names
(plus optimizer state and other entries that are ignored), or a folder of files that the method
maps onto its sub-networks (``Method.official_checkpoint``: LivePortrait's five files). A method
supports them when its registration says ``official=True`` and its ``networks()`` returns those
sub-networks; the ones it
lists in ``Method.optional_networks`` may be absent from a file (TPSMM: the official loader
loads ``bg_predictor`` and ``avd_network`` only when present). Building the method and reading
the file are :func:`bench.methods.build_method`'s (``official=True``).
"""
from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from bench.errors import CheckpointError
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


def load_official(method: Method, data: Mapping[str, Any], where: str = "checkpoint") -> None:
    """Load an official checkpoint's contents into ``method`` (built from the official ``model_params``).

    The contents go through the method's filter (:meth:`Method.official_checkpoint`: as they are, or
    a folder's files mapped onto sub-networks); every sub-network of ``method.networks()`` must then be
    present and match exactly, except those in the method's ``optional_networks``, which keep their
    initial weights when absent (TPSMM's background predictor before ``bg_start``: the identity);
    other entries (optimizers, FOMM's discriminator, epoch) are ignored. A training stage of the
    method whose networks the checkpoint holds counts as trained (MRAA's and TPSMM's AVD network:
    official ``avd`` animation).
    """
    data = method.official_checkpoint(data, where)
    nets = method.networks()
    optional = set(method.optional_networks)
    absent = [n for n in nets if n not in data and n not in optional]
    if absent:
        needed = ", ".join(n + (" (optional)" if n in optional else "") for n in nets)
        raise CheckpointError(f"{where} has no '{absent[0]}' (a {method.name} checkpoint needs: {needed}; "
                              f"found: {', '.join(map(str, data)) or 'nothing'})")
    for net_name, net in nets.items():
        if net_name in data:
            _load_network(net_name, net, data[net_name])
    for stage in method.stages:  # published checkpoints are saved after every stage that trains what they hold
        if all(net in data for net in stage.networks):
            method.mark_stage_trained(stage.name)
