"""LivePortrait's implicit-keypoint motion (official ``src/utils/camera.py``, ``LivePortraitWrapper.get_kp_info`` /
``transform_keypoint`` and the animation loop of ``LivePortraitPipeline.execute`` for a source image and a
driving video).

A frame's motion ``KpInfo`` holds ``pitch`` / ``yaw`` / ``roll`` (``B x 1``, degrees), ``t`` (``B x 3``),
``exp`` (``B x K x 3``), ``scale`` (``B x 1``), ``kp`` (canonical keypoints ``B x K x 3``) and ``R`` (``B x 3 x 3``,
applied on the right: ``x @ R``). Its keypoints are ``x = scale * (kp @ R + exp) + (tx, ty, 0)`` (Eq. 2).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bench.methods.fomm.animation import hull_area
from bench.methods.liveportrait.config import NUM_BINS, NUM_KP, AnimationParams

KpInfo = dict[str, torch.Tensor]


def absolute_expression_mask(device: torch.device | None = None) -> torch.Tensor:
    """``K x 3`` booleans: the expression entries that absolute motion takes from the driving frame, the others
    staying the source's (the official loop: keypoints 1, 2, 6, 11-20 whole, y of 3-4, z of 5 and 8, y and z of 9)."""
    mask = torch.zeros(NUM_KP, 3, dtype=torch.bool, device=device)
    mask[[1, 2, 6, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]] = True
    mask[3:5, 1] = True
    mask[5, 2] = mask[8, 2] = True
    mask[9, 1:] = True
    return mask


def headpose_to_degrees(logits: torch.Tensor) -> torch.Tensor:
    """``B x 66`` bin logits -> ``B`` degrees: the softmax-expected bin x 3 - 97.5 (``headpose_pred_to_degree``)."""
    index = torch.arange(NUM_BINS, dtype=torch.float32, device=logits.device)
    return torch.sum(F.softmax(logits, dim=1) * index, dim=1) * 3 - 97.5


def rotation_matrix(pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """``B x 3 x 3`` from degrees (``B x 1``): ``(Rz Ry Rx)^T`` (``get_rotation_matrix``)."""
    x, y, z = (a / 180 * math.pi for a in (pitch, yaw, roll))
    ones, zeros = torch.ones_like(x), torch.zeros_like(x)
    b = x.shape[0]
    rot_x = torch.cat([ones, zeros, zeros, zeros, torch.cos(x), -torch.sin(x),
                       zeros, torch.sin(x), torch.cos(x)], dim=1).reshape(b, 3, 3)
    rot_y = torch.cat([torch.cos(y), zeros, torch.sin(y), zeros, ones, zeros,
                       -torch.sin(y), zeros, torch.cos(y)], dim=1).reshape(b, 3, 3)
    rot_z = torch.cat([torch.cos(z), -torch.sin(z), zeros, torch.sin(z), torch.cos(z), zeros,
                       zeros, zeros, ones], dim=1).reshape(b, 3, 3)
    return (rot_z @ rot_y @ rot_x).permute(0, 2, 1)


def kp_info(raw: dict[str, torch.Tensor]) -> KpInfo:
    """The motion extractor's raw outputs refined as ``get_kp_info(flag_refine_info=True)``, plus ``R``."""
    b = raw["kp"].shape[0]
    info = {name: headpose_to_degrees(raw[name])[:, None] for name in ("pitch", "yaw", "roll")}
    info.update(t=raw["t"], scale=raw["scale"], kp=raw["kp"].reshape(b, -1, 3), exp=raw["exp"].reshape(b, -1, 3))
    info["R"] = rotation_matrix(info["pitch"], info["yaw"], info["roll"])
    return info


def keypoints(kp: torch.Tensor, rotation: torch.Tensor, exp: torch.Tensor, scale: torch.Tensor,
              t: torch.Tensor) -> torch.Tensor:
    """``scale * (kp @ R + exp) + (tx, ty, 0)`` (``transform_keypoint``; the pipeline's ``x_d_i_new``)."""
    shift = torch.cat([t[:, :2], torch.zeros_like(t[:, 2:])], dim=1)
    return scale[:, :, None] * (kp @ rotation + exp) + shift[:, None, :]


def transform_keypoint(info: KpInfo) -> torch.Tensor:
    """A frame's own keypoints ``x`` (``transform_keypoint``)."""
    return keypoints(info["kp"], info["R"], info["exp"], info["scale"], info["t"])


def absolute_keypoints(source: KpInfo, driving: KpInfo) -> torch.Tensor:
    """Absolute motion (``flag_relative_motion`` off): the driving rotation and (tx, ty), the source's scale and
    canonical keypoints, the driving expression on :func:`absolute_expression_mask`."""
    exp = torch.where(absolute_expression_mask(driving["exp"].device), driving["exp"], source["exp"])
    return keypoints(source["kp"], driving["R"], exp, source["scale"], driving["t"])


def relative_keypoints(source: KpInfo, driving: KpInfo, initial: KpInfo) -> torch.Tensor:
    """Relative motion (``flag_relative_motion``): the rotation, expression, scale ratio and translation of the
    driving frame relative to the first one, applied to the source's."""
    rotation = (driving["R"] @ initial["R"].permute(0, 2, 1)) @ source["R"]
    exp = source["exp"] + (driving["exp"] - initial["exp"])
    scale = source["scale"] * (driving["scale"] / initial["scale"])
    t = source["t"] + (driving["t"] - initial["t"])
    return keypoints(source["kp"], rotation, exp, scale, t)


def motion_multiplier(x_s: torch.Tensor, x_d0: torch.Tensor) -> torch.Tensor:
    """``B x 1 x 1``: sqrt(volume(hull(x_s))) / sqrt(volume(hull(x_d0))) per batch element, the 3-D keypoint
    hulls of ``calc_motion_multiplier`` (1 where a hull is degenerate; the official code raises there)."""
    values = []
    for s, d in zip(x_s, x_d0):
        vs, vd = hull_area(s), hull_area(d)  # ConvexHull(...).volume of 21 x 3 points: the volume
        values.append(math.sqrt(vs) / math.sqrt(vd) if vs > 0 and vd > 0 else 1.0)
    return torch.tensor(values, dtype=x_s.dtype, device=x_s.device).view(-1, 1, 1)


def driving_keypoints(source: KpInfo, x_s: torch.Tensor, driving: KpInfo, initial: KpInfo | None,
                      options: AnimationParams, relative: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The driving keypoints of the official loop before stitching, and the motion multiplier (None when not
    used): absolute or relative motion, then (relative, ``expression-friendly``) ``x_s + (x_d - x_d0) * m``,
    ``x_d0`` being the first driving frame's own result and ``m`` :func:`motion_multiplier` of ``x_s``, ``x_d0``."""
    if not relative:
        return absolute_keypoints(source, driving), None
    x_d = relative_keypoints(source, driving, initial)
    if options.driving_option != "expression-friendly":
        return x_d, None
    x_d0 = relative_keypoints(source, initial, initial)
    multiplier = motion_multiplier(x_s, x_d0)
    return (x_d - x_d0) * multiplier + x_s, multiplier
