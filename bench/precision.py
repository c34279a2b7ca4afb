"""Numeric precision of a method's weights and arithmetic (``--precision``), declared once.

``fp32`` is the precision of the official code and of the published numbers. ``fp64`` runs the
method (weights, inputs and every tensor its code creates) in float64: slower (no oneDNN kernels
on the CPU), but the float rounding that differs between CPU kernel paths (AVX2, AVX-512, no
vectors, another thread count) then moves a short training run's numbers by about 1e-8 instead
of several per cent, which is what the CI regression gate needs (``bench demo --quick``). Initial
weights are drawn inside :meth:`Precision.scope` too: float32's ``normal_`` has a vectorised
kernel whose draws differ between kernel paths by about 1e-7, float64's has none. Metrics always
compute in float32 from the generated frames, whatever the method's precision.

``bf16`` is for evaluation only (``bench run``, ``bench perf``): the weights and inputs stay float32 and
the method's forward runs under ``torch.autocast(..., dtype=torch.bfloat16)`` (the convolutions and
matrix products in bfloat16, the rest as autocast decides); the frames are cast back to float32 before
any metric sees them. Its measured deviation from fp32 and its speed are in the README's performance
section (:data:`BF16_FORWARD_TOLERANCE`).
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
    autocast_name: str | None = None  # autocast's lower-precision dtype around the forward (None: no autocast)
    trains: bool = True               # False: refused by bench train (evaluation only)

    @property
    def dtype(self) -> torch.dtype:
        import torch

        return getattr(torch, self.dtype_name)

    @contextlib.contextmanager
    def scope(self, device_type: str | None = None) -> Iterator[None]:
        """Tensors created without an explicit dtype inside the block get :attr:`dtype`; with
        :attr:`autocast_name`, the block runs under autocast on ``device_type`` (default: the CPU, and
        CUDA too when it is available, so that callers need not know where the method runs)."""
        import torch

        previous = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)
        try:
            with contextlib.ExitStack() as stack:
                if self.autocast_name is not None:
                    types = [device_type] if device_type else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
                    for kind in types:
                        stack.enter_context(torch.autocast(kind, dtype=getattr(torch, self.autocast_name)))
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
    Precision("bf16", "float32", "bfloat16 autocast around the method's forward (evaluation only; float32 "
                                 "weights, inputs and metrics)", autocast_name="bfloat16", trains=False),
)}
DEFAULT_PRECISION = "fp32"


#: the largest difference of a bf16 forward from fp32 that the tests accept on a small model's frames in
#: [0, 1] (tests/test_precision_bf16.py: FOMM's synthetic preset, seeded random weights, 64 px).
#: Measured on the CPU (AMD EPYC, AVX2, torch 2.14.1, 2026-12-07): that model's bf16 frames differ from its
#: fp32 ones by at most 0.0021 (mean 0.00055); the tolerance is 10x that maximum, rounded up (the fixtures'
#: rule, with bf16 rounding as the floor). The official-code fixtures differ more (README, performance
#: section): FOMM at most 0.008, MRAA 0.03-0.14 and TPSMM 0.23-0.60 per pixel (their warps move by a pixel
#: or more when keypoints shift by bf16's 2^-9 relative rounding), which is why bf16 is an opt-in speed
#: setting with its own run key, never the published protocol.
BF16_FORWARD_TOLERANCE = 0.025


def get_precision(name: str, training: bool = False) -> Precision:
    """The precision ``name`` (one line naming the choices otherwise); ``training``: refuse the
    evaluation-only ones."""
    try:
        precision = PRECISIONS[name]
    except KeyError:
        raise UserError(f"unknown --precision '{name}'; choose from: {', '.join(PRECISIONS)}") from None
    if training and not precision.trains:
        trainable = ", ".join(p.name for p in PRECISIONS.values() if p.trains)
        raise UserError(f"--precision {name} is for evaluation only (bench run, bench perf); train in {trainable}")
    return precision
