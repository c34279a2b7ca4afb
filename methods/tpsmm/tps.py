"""Thin-plate-spline transforms of TPSMM (official ``modules/util.py``, class ``TPS``).

Two modes, as in the official class:

* ``kp`` (Eq. 2 of the paper): K transforms per sample, each fitted to 5 keypoint pairs. The
  kernel is ``U(r) = r^2 log(r^2 + 1e-9)`` with r the Euclidean distance, and the system is solved
  as ``(L + 0.01 I)^-1 Y`` (the official regularised inverse, applied to the whole 8x8 matrix).
* ``random`` (equivariance loss): one transform per sample, an affine ``theta`` ~ I + N(0, sigma_affine)
  plus a TPS on a ``points_tps`` x ``points_tps`` control grid with weights ~ N(0, sigma_tps); same
  kernel (squared L2, ``log(r^2 + 1e-9)``), unlike FOMM/MRAA's ``r^2 log(r + 1e-6)`` with r the L1 distance.

Coordinates are (x, y) in [-1, 1]; sampling grids are meant for ``grid_sample(align_corners=True)``.
Under mixed precision the fits and warps run in float32 (in float16 the kernel's ``1e-9`` underflows and
``0 * log(0)`` gives NaN, and ``torch.inverse`` has no half kernel); in float32 nothing changes.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import torch
import torch.nn.functional as F

from bench.methods.blocks import make_coordinate_grid

#: TPSMM samples every grid with align_corners=True (official util.py / dense_motion.py / model.py)
ALIGN_CORNERS = True


def _full_precision(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``function`` with autocast off and half / bfloat16 tensor arguments as float32."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tensors = [a for a in list(args) + list(kwargs.values()) if torch.is_tensor(a)]
        device = tensors[0].device.type if tensors else "cpu"
        low = (torch.float16, torch.bfloat16)
        args = tuple(a.float() if torch.is_tensor(a) and a.dtype in low else a for a in args)
        kwargs = {k: v.float() if torch.is_tensor(v) and v.dtype in low else v for k, v in kwargs.items()}
        with torch.autocast(device_type=device, enabled=False):
            return function(*args, **kwargs)
    return wrapper


def tps_kernel(squared_distance: torch.Tensor) -> torch.Tensor:
    """``r^2 log(r^2 + 1e-9)`` of squared distances ``r^2``."""
    return squared_distance * torch.log(squared_distance + 1e-9)


class TPS:
    """A batch of thin-plate-spline warps ``z -> theta [z; 1] + sum_i w_i U(|z - c_i|)``.

    ``kp`` mode: ``theta`` ``B x K x 2 x 3``, ``control_points`` ``B x K x 5 x 2``, ``control_params``
    ``B x K x 5 x 2``. ``random`` mode: ``theta`` ``B x 2 x 3``, ``control_points`` ``1 x P x 2``,
    ``control_params`` ``B x 1 x P``.
    """

    def __init__(self, mode: str, theta: torch.Tensor, control_points: torch.Tensor,
                 control_params: torch.Tensor) -> None:
        if mode not in ("kp", "random"):
            raise ValueError(f"unknown TPS mode {mode!r}")
        self.mode = mode
        self.theta = theta
        self.control_points = control_points
        self.control_params = control_params
        self.bs = theta.shape[0]

    @classmethod
    @_full_precision
    def from_keypoints(cls, kp_1: torch.Tensor, kp_2: torch.Tensor) -> "TPS":
        """``kp`` mode: for each of the K groups, the TPS mapping ``kp_1`` (``B x K x 5 x 2``) onto ``kp_2``."""
        bs, gs, n = kp_1.shape[:3]
        dtype, device = kp_1.dtype, kp_1.device
        k = torch.linalg.vector_norm(kp_1[:, :, :, None] - kp_1[:, :, None, :], ord=2, dim=4)
        k = tps_kernel(k ** 2)
        kp_1p = torch.cat([kp_1, torch.ones(bs, gs, n, 1, dtype=dtype, device=device)], dim=3)
        p = torch.cat([kp_1p, torch.zeros(bs, gs, 3, 3, dtype=dtype, device=device)], dim=2)
        lhs = torch.cat([torch.cat([k, kp_1p.permute(0, 1, 3, 2)], dim=2), p], dim=3)
        lhs = lhs + torch.eye(lhs.shape[2], dtype=dtype, device=device).expand(lhs.shape) * 0.01
        rhs = torch.cat([kp_2, torch.zeros(bs, gs, 3, 2, dtype=dtype, device=device)], dim=2)
        # the official inverse-then-multiply (not a solve), for the same rounding
        param = torch.matmul(torch.inverse(lhs), rhs)
        return cls("kp", param[:, :, n:, :].permute(0, 1, 3, 2), kp_1, param[:, :, :n, :])

    @classmethod
    def random(cls, bs: int, sigma_affine: float, sigma_tps: float, points_tps: int,
               dtype: torch.dtype = torch.float32, device: torch.device | str | None = None,
               generator: torch.Generator | None = None) -> "TPS":
        """``random`` mode; draws on the CPU in the official order (theta noise, then TPS weights)."""
        noise = torch.normal(mean=0.0, std=sigma_affine * torch.ones([bs, 2, 3]), generator=generator)
        theta = noise + torch.eye(2, 3).view(1, 2, 3)
        control_points = make_coordinate_grid((points_tps, points_tps), noise.dtype).unsqueeze(0)
        control_params = torch.normal(mean=0.0, std=sigma_tps * torch.ones([bs, 1, points_tps ** 2]),
                                      generator=generator)
        return cls("random", theta.to(device=device, dtype=dtype),
                   control_points.to(device=device, dtype=dtype), control_params.to(device=device, dtype=dtype))

    @_full_precision
    def warp_coordinates(self, coordinates: torch.Tensor) -> torch.Tensor:
        """Warp ``N x P x 2`` points (N = B, or 1 for a shared grid); ``kp`` mode gives ``B x K x P x 2``,
        ``random`` mode ``B x P x 2``."""
        theta = self.theta.to(coordinates)
        control_points = self.control_points.to(coordinates)
        control_params = self.control_params.to(coordinates)
        if self.mode == "kp":
            points = coordinates.permute(0, 2, 1).unsqueeze(1)
            transformed = torch.matmul(theta[:, :, :, :2], points) + theta[:, :, :, 2:]
            distances = (coordinates.view(coordinates.shape[0], 1, 1, -1, 2)
                         - control_points.view(self.bs, control_points.shape[1], -1, 1, 2))
            result = tps_kernel((distances ** 2).sum(-1))
            result = torch.matmul(result.permute(0, 1, 3, 2), control_params)
            return transformed.permute(0, 1, 3, 2) + result
        theta = theta.unsqueeze(1)
        transformed = (torch.matmul(theta[:, :, :, :2], coordinates.unsqueeze(-1)) + theta[:, :, :, 2:]).squeeze(-1)
        distances = coordinates.view(coordinates.shape[0], -1, 1, 2) - control_points.view(1, 1, -1, 2)
        result = tps_kernel((distances ** 2).sum(-1)) * control_params
        return transformed + result.sum(dim=2).view(self.bs, coordinates.shape[1], 1)

    def sampling_grid(self, size: tuple[int, int], dtype: torch.dtype = torch.float32,
                      device: torch.device | str | None = None) -> torch.Tensor:
        """The official ``transform_frame``: the warped ``H x W`` coordinate grid, ``B x K x H x W x 2``
        (``kp``) or ``B x H x W x 2`` (``random``)."""
        h, w = size
        grid = make_coordinate_grid((h, w), dtype, device).view(1, h * w, 2)
        shape = [self.bs, h, w, 2] if self.mode == "random" else [self.bs, self.theta.shape[1], h, w, 2]
        return self.warp_coordinates(grid).view(*shape)

    def transform_frame(self, frame: torch.Tensor) -> torch.Tensor:
        """``random`` mode: ``frame`` resampled by the warp, as the official equivariance loss
        (``modules/model.py``: reflection padding, ``align_corners=True``)."""
        if self.mode != "random":
            raise ValueError("transform_frame resamples frames in 'random' mode only")
        grid = self.sampling_grid(frame.shape[2:], frame.dtype, frame.device)
        return F.grid_sample(frame, grid, padding_mode="reflection", align_corners=ALIGN_CORNERS)
