"""The method registry: each method registered once with its facts (:class:`MethodSpec`).

Built-in methods: copy-source, FOMM, MRAA, TPSMM, LivePortrait, SADM. Outside packages register a
``MethodSpec`` (or a bare factory) in the ``motionbench.methods`` entry-point group. Building a
method (and loading weights into it) is :func:`bench.methods.build.build_method`.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from bench.methods.base import Method
from bench.registry import Registry

MethodFactory = Callable[[Mapping[str, Any] | None], Method]


@dataclass(frozen=True)
class MethodSpec:
    """The facts of one method, declared once at registration.

    ``official``: its ``networks()`` carry the official sub-network names, so the published
    checkpoints load (``bench run --official``). ``trainable``: False for an evaluation-only method
    (official weights, no training code: ``bench train`` refuses it). ``factory`` may be given as
    ``"module:function"``, imported on first use (so listing methods imports no model code).
    """

    name: str
    factory: MethodFactory | str
    label: str = ""
    description: str = ""
    official: bool = False
    trainable: bool = True

    @property
    def title(self) -> str:
        return self.label or self.name

    def factory_function(self) -> MethodFactory:
        """The factory (imports a ``"module:function"`` one first)."""
        if isinstance(self.factory, str):
            module, _, function = self.factory.partition(":")
            return getattr(importlib.import_module(module), function)
        return self.factory


def _method_spec(name: str, obj: Any) -> MethodSpec:
    """A registered method is a :class:`MethodSpec` of that name, or a bare factory (label = name)."""
    if isinstance(obj, MethodSpec):
        if obj.name != name:
            raise ValueError(f"method registered as '{name}' declares name '{obj.name}'")
        return obj
    if callable(obj) or isinstance(obj, str) and ":" in obj:
        return MethodSpec(name, obj)
    raise TypeError(f"method '{name}' must be a MethodSpec or a factory, got {obj!r}")


METHODS: Registry[MethodSpec] = Registry("method", "motionbench.methods", adapt=_method_spec)

for _spec in (
    MethodSpec("copy-source", "bench.methods.copy_source:build_copy_source", "Copy source",
               "the source image repeated (sanity baseline)", trainable=False),
    MethodSpec("fomm", "bench.methods.fomm:build_fomm", "FOMM", "First Order Motion Model (Siarohin et al. 2019)",
               official=True),
    MethodSpec("mraa", "bench.methods.mraa:build_mraa", "MRAA",
               "Motion Representations for Articulated Animation (Siarohin et al. 2021)", official=True),
    MethodSpec("tpsmm", "bench.methods.tpsmm:build_tpsmm", "TPSMM",
               "Thin-Plate Spline Motion Model (Zhao & Zhang 2022)", official=True),
    MethodSpec("lia", "bench.methods.lia:build_lia", "LIA", "Latent Image Animator (Wang et al. 2022)",
               official=True),
    MethodSpec("liveportrait", "bench.methods.liveportrait:build_liveportrait", "LivePortrait",
               "LivePortrait: implicit-keypoint portrait animation (Guo et al. 2024), official weights",
               official=True, trainable=False),
    MethodSpec("sadm", "bench.methods.sadm:build_sadm", "SADM",
               "Self-appearance-aided Differential Evolution for Motion Transfer"),
):
    METHODS.register(_spec.name, _spec)
