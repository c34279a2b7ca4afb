"""Method registry: copy-source, FOMM, MRAA, TPSMM, LIA, SADM.

Each method is registered with its facts (:class:`MethodSpec`: label, one-line description,
whether official checkpoints of it load) and a factory taking the method's ``model_params``
mapping and returning a :class:`bench.methods.base.Method`. Outside packages register a
``MethodSpec`` (or a bare factory) in the ``motionbench.methods`` entry-point group.
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
    checkpoints load (``bench run --official``, :func:`from_official`). ``factory`` may be given
    as ``"module:function"``, imported on first use (so listing methods imports no model code).
    """

    name: str
    factory: MethodFactory | str
    label: str = ""
    description: str = ""
    official: bool = False

    @property
    def title(self) -> str:
        return self.label or self.name

    def build(self, config: Mapping[str, Any] | None) -> Method:
        """The method from its model config (imports a ``"module:function"`` factory first)."""
        factory = self.factory
        if isinstance(factory, str):
            module, _, function = factory.partition(":")
            factory = getattr(importlib.import_module(module), function)
        return factory(config)


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


def _register_builtin() -> None:
    for spec in (
        MethodSpec("copy-source", "bench.methods.copy_source:build_copy_source", "Copy source",
                   "the source image repeated (sanity baseline)"),
        MethodSpec("fomm", "bench.methods.fomm:build_fomm", "FOMM", "First Order Motion Model (Siarohin et al. 2019)",
                   official=True),
        MethodSpec("mraa", "bench.methods.mraa:build_mraa", "MRAA",
                   "Motion Representations for Articulated Animation (Siarohin et al. 2021)", official=True),
        MethodSpec("tpsmm", "bench.methods.tpsmm:build_tpsmm", "TPSMM",
                   "Thin-Plate Spline Motion Model (Zhao & Zhang 2022)", official=True),
        MethodSpec("lia", "bench.methods.lia:build_lia", "LIA", "Latent Image Animator (Wang et al. 2022)",
                   official=True),
        MethodSpec("sadm", "bench.methods.sadm:build_sadm", "SADM",
                   "Self-appearance-aided Differential Evolution for Motion Transfer"),
    ):
        METHODS.register(spec.name, spec)


_register_builtin()


def build_method(name: str, config: Mapping[str, Any] | None = None) -> Method:
    """Instantiate the registered method ``name`` from its model config."""
    method = METHODS.get(name).build(config)
    method.name = name
    return method


from bench.methods.official import from_official  # noqa: E402

__all__ = ["METHODS", "Method", "MethodSpec", "build_method", "from_official"]
