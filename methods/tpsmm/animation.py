"""TPSMM animation (official ``demo.py``: ``relative_kp`` and the modes of ``make_animation``)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bench.methods.fomm.animation import hull_area

Keypoints = dict[str, torch.Tensor]


def movement_scale(kp_source: torch.Tensor, kp_driving_initial: torch.Tensor) -> float:
    """``sqrt(area(hull(source[0]))) / sqrt(area(hull(initial[0])))``: batch element 0 only, as ``relative_kp``.

    The official code raises on a degenerate hull (fewer than 3 distinct or collinear points);
    here that gives 1 (no adaptation).
    """
    source_area, driving_area = hull_area(kp_source[0]), hull_area(kp_driving_initial[0])
    if source_area <= 0 or driving_area <= 0:
        return 1.0
    return float(np.sqrt(source_area) / np.sqrt(driving_area))


def relative_kp(kp_source: Keypoints, kp_driving: Keypoints, kp_driving_initial: Keypoints,
                scale: float | None = None) -> Keypoints:
    """``kp_s + scale * (kp_d - kp_d0)`` (official ``demo.relative_kp``); ``scale``: :func:`movement_scale`
    of these keypoints, computed here unless the caller already has it."""
    if scale is None:
        scale = movement_scale(kp_source["fg_kp"], kp_driving_initial["fg_kp"])
    kp_new = dict(kp_driving)
    kp_new["fg_kp"] = (kp_driving["fg_kp"] - kp_driving_initial["fg_kp"]) * scale + kp_source["fg_kp"]
    return kp_new


def animation_kp(kp_source: Keypoints, kp_driving: Keypoints, kp_driving_initial: Keypoints, mode: str = "relative",
                 avd_network: nn.Module | None = None, scale: float | None = None) -> Keypoints:
    """The keypoints that drive the source in ``demo.make_animation``'s ``mode``.

    * ``standard``: the driving keypoints as they are (absolute).
    * ``relative``: :func:`relative_kp` (``scale`` passed on).
    * ``avd``: the AVD network combines the source identity with the driving pose
      (``kp_source`` must have the batch size of ``kp_driving``).
    """
    if mode == "standard":
        return dict(kp_driving)
    if mode == "relative":
        return relative_kp(kp_source, kp_driving, kp_driving_initial, scale)
    if mode == "avd":
        if avd_network is None:
            raise ValueError("mode 'avd' needs an AVD network")
        return avd_network(kp_source, kp_driving)
    raise ValueError(f"unknown animation mode {mode!r}")
