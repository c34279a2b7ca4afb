"""Method registry: FOMM, MRAA, SADM and the copy-source baseline.

A factory takes the method's ``model_params`` mapping and returns a
:class:`bench.methods.base.Method`. Outside packages register factories in the
``motionbench.methods`` entry-point group.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from bench.methods.base import Method
from bench.methods.copy_source import build_copy_source
from bench.methods.fomm import build_fomm
from bench.methods.mraa import build_mraa
from bench.methods.official import from_official
from bench.methods.sadm import build_sadm
from bench.registry import Registry

MethodFactory = Callable[[Mapping[str, Any] | None], Method]

METHODS: Registry[MethodFactory] = Registry("method", "motionbench.methods")
METHODS.register("copy-source", build_copy_source)
METHODS.register("fomm", build_fomm)
METHODS.register("mraa", build_mraa)
METHODS.register("sadm", build_sadm)


def build_method(name: str, config: Mapping[str, Any] | None = None) -> Method:
    """Instantiate the registered method ``name`` from its model config."""
    method = METHODS.get(name)(config)
    method.name = name
    return method


__all__ = ["METHODS", "Method", "build_method", "from_official"]
