"""MRAA animation: region parameters for the generator in 'standard', 'relative' or 'avd' mode."""
from __future__ import annotations

import torch
from torch import nn

from bench.methods.fomm.animation import movement_scale

Regions = dict[str, torch.Tensor]


def animation_region_params(source: Regions, driving: Regions, driving_initial: Regions, mode: str = "relative",
                            avd_network: nn.Module | None = None, adapt_movement_scale: bool = True) -> Regions:
    """Region parameters that move the source as the driving video moves (official ``animate.py``
    ``get_animation_region_params``).

    * ``standard``: the driving regions as they are (absolute).
    * ``relative``: shift ``s + scale * (d - d0)``, affine ``A_d A_d0^-1 A_s``; the covariance
      (used by covariance heatmaps) stays the driving one, as in the official code.
    * ``avd``: the AVD network combines the source shape with the driving pose.
    """
    if mode == "standard":
        return dict(driving)
    if mode == "avd":
        if avd_network is None:
            raise ValueError("mode 'avd' needs an AVD network")
        return avd_network(source, driving)
    if mode != "relative":
        raise ValueError(f"unknown animation mode {mode!r}")
    new = dict(driving)
    scale = (movement_scale(source["shift"], driving_initial["shift"]) if adapt_movement_scale
             else torch.ones((), dtype=source["shift"].dtype, device=source["shift"].device))
    new["shift"] = source["shift"] + scale * (driving["shift"] - driving_initial["shift"])
    diff = torch.matmul(driving["affine"], torch.inverse(driving_initial["affine"]))
    new["affine"] = torch.matmul(diff, source["affine"])
    return new
