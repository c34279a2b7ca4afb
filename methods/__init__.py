"""Methods: the registry (:mod:`bench.methods.registry`) and the one builder (:mod:`bench.methods.build`).

Each method is registered with its facts (:class:`MethodSpec`: label, one-line description,
whether official checkpoints of it load, whether it trains) and a factory taking the method's
``model_params`` mapping and returning a :class:`bench.methods.base.Method`;
:func:`build_method` makes one from its config and, optionally, a checkpoint (ours or official).
"""
from __future__ import annotations

from bench.methods.base import Method
from bench.methods.build import build_method
from bench.methods.registry import METHODS, MethodSpec

__all__ = ["METHODS", "Method", "MethodSpec", "build_method"]
