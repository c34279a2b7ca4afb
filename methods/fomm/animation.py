"""Relative animation: transfer the driving motion (relative to an initial driving frame) onto the source."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class KeypointNormalization:
    """How relative animation moves the source keypoints: the official FOMM YAMLs'
    ``animate_params.normalization_params`` (all of them: ``adapt_movement_scale: False``,
    ``use_relative_movement: True``), shared by methods that animate keypoints (FOMM, SADM)."""
    adapt_movement_scale: bool = False
    use_relative_movement: bool = True


def hull_area(points: torch.Tensor) -> float:
    """Area of the convex hull of ``P x 2`` points (0 when degenerate: fewer than 3 or collinear)."""
    from scipy.spatial import ConvexHull, QhullError  # 0.4 s to import: only when animating with scaling

    pts = points.detach().cpu().double().numpy()
    if len(pts) < 3:
        return 0.0
    try:
        return float(ConvexHull(pts).volume)
    except QhullError:
        return 0.0


def movement_scale(source: torch.Tensor, driving_initial: torch.Tensor) -> torch.Tensor:
    """Per-sample ``sqrt(area_source / area_driving_initial)`` of keypoint hulls, shape ``B x 1 x 1``.

    It makes the relative displacement proportional to the object's size in the source.
    A degenerate hull gives scale 1 (no adaptation) rather than 0 or infinity.
    """
    scales = []
    for src, drv in zip(source, driving_initial):
        a_src, a_drv = hull_area(src), hull_area(drv)
        scales.append(np.sqrt(a_src / a_drv) if a_src > 0 and a_drv > 0 else 1.0)
    return torch.tensor(scales, dtype=source.dtype, device=source.device).view(-1, 1, 1)


def normalize_kp(kp_source: dict[str, torch.Tensor], kp_driving: dict[str, torch.Tensor],
                 kp_driving_initial: dict[str, torch.Tensor], adapt_movement_scale: bool = False,
                 use_relative_movement: bool = True, use_relative_jacobian: bool = True) -> dict[str, torch.Tensor]:
    """FOMM's keypoint normalisation for animation (official ``animate.py`` ``normalize_kp``).

    value: ``kp_s + scale * (kp_d - kp_d0)``; jacobian: ``J_d J_d0^-1 J_s`` (when the keypoints
    carry one). With ``use_relative_movement`` off the driving keypoints are used as they are
    (absolute mode). The scale is per sample (the official code runs one sample at a time).
    """
    kp_new = dict(kp_driving)
    if not use_relative_movement:
        return kp_new
    scale = (movement_scale(kp_source["value"], kp_driving_initial["value"]) if adapt_movement_scale
             else torch.ones((), dtype=kp_source["value"].dtype, device=kp_source["value"].device))
    kp_new["value"] = kp_source["value"] + scale * (kp_driving["value"] - kp_driving_initial["value"])
    if use_relative_jacobian and "jacobian" in kp_driving:
        diff = torch.matmul(kp_driving["jacobian"], torch.inverse(kp_driving_initial["jacobian"]))
        kp_new["jacobian"] = torch.matmul(diff, kp_source["jacobian"])
    return kp_new
