"""The evaluation runner behind ``bench run`` and ``bench sweep``: the paper's protocols,
a run planned once (``plan``), executed with per-video resumable results, torchrun sharding
and MLflow logging (``engine``).

The public names are loaded on first use (PEP 562), so that parsing a command line, which
needs only :class:`RunSettings`, does not import torch.
"""
from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module that defines it
_EXPORTS = {"TaskReport": "engine", "execute": "engine", "run": "engine", "RunPlan": "plan", "plan_keys": "plan",
            "plan_run": "plan", "RunSettings": "settings"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bench.runner' has no attribute {name!r}")
    return getattr(importlib.import_module(f"bench.runner.{_EXPORTS[name]}"), name)
