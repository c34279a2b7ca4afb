"""Numeric precision of a method's weights and arithmetic (``--precision``), declared once.

``fp32`` is the precision of the official code and of the published numbers. ``fp64`` runs the
method (weights, inputs and every tensor its code creates) in float64: slower (no oneDNN kernels
on the CPU), but the float rounding that differs between CPU kernel paths (AVX2, AVX-512, no
vectors, another thread count) then moves a short training run's numbers by about 1e-8 instead
of several per cent, which is what the CI regression gate needs (``bench demo --quick``). Initial
weights are drawn inside :meth:`Precision.scope` too: float32's ``normal_`` has a vectorised
kernel whose draws differ between kernel paths by about 1e-7, float64's has none. Metrics always
compute in float32 from the generated frames, whatever the method's precision.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from bench.errors import UserError

if TYPE_CHECKING:  # torch is imported when a precision is used, not when the command line is parsed
    import torch


@dataclass(frozen=True)
class Precision:
    """A named precision: the dtype of the method's weights, inputs and created tensors."""

    name: str
    dtype_name: str
    description: str

    @property
    def dtype(self) -> torch.dtype:
        import torch

        return getattr(torch, self.dtype_name)

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Tensors created without an explicit dtype inside the block get :attr:`dtype`."""
        import torch

        previous = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)
        try:
            yield
        finally:
            torch.set_default_dtype(previous)

    def inputs(self, tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
        """A floating-point input on ``device`` in this precision."""
        return tensor.to(device, self.dtype, non_blocking=True)


PRECISIONS: dict[str, Precision] = {p.name: p for p in (
    Precision("fp32", "float32", "float32, as the official code (the published numbers)"),
    Precision("fp64", "float64", "float64: slower, numbers independent of the CPU's kernel path "
                                     "(the CI gate's quick demo)"),
)}
DEFAULT_PRECISION = "fp32"


def get_precision(name: str) -> Precision:
    """The precision ``name`` (one line naming the choices otherwise)."""
    try:
        return PRECISIONS[name]
    except KeyError:
        raise UserError(f"unknown --precision '{name}'; choose from: {', '.join(PRECISIONS)}") from None
