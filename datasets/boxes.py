"""Box geometry of AliaksandrSiarohin/video-preprocessing's ``util.py``, used by both crop rules.

IoU with the inclusive-pixel convention, union boxes, enlargement (aspect-preserving or not) and
``crop_bbox_from_frames``' rules (minimal length, minimal size, no box near the border), as the
official computes them (``int()`` truncation included).
"""
from __future__ import annotations

from typing import Sequence

BoxF = Sequence[float]


def bb_iou(box_a: BoxF, box_b: BoxF) -> float:
    """util.py ``bb_intersection_over_union``: IoU with the +1 inclusive-pixel convention."""
    x_a, y_a = max(box_a[0], box_b[0]), max(box_a[1], box_b[1])
    x_b, y_b = min(box_a[2], box_b[2]), min(box_a[3], box_b[3])
    inter = max(0, x_b - x_a + 1) * max(0, y_b - y_a + 1)
    area_a = (box_a[2] - box_a[0] + 1) * (box_a[3] - box_a[1] + 1)
    area_b = (box_b[2] - box_b[0] + 1) * (box_b[3] - box_b[1] + 1)
    return float(inter / float(area_a + area_b - inter))


def one_box_inside_other(box_a: BoxF, box_b: BoxF) -> bool:
    """util.py ``one_box_inside_other``: ``box_b`` lies inside ``box_a``."""
    return bool(box_a[0] <= box_b[0] and box_a[1] <= box_b[1] and box_a[2] >= box_b[2] and box_a[3] >= box_b[3])


def join(tube: BoxF, box: BoxF) -> tuple[float, float, float, float]:
    """util.py ``join``: the union (bounding) box of two boxes."""
    return (min(tube[0], box[0]), min(tube[1], box[1]), max(tube[2], box[2]), max(tube[3], box[3]))


def compute_aspect_preserved_bbox(bbox: BoxF, increase_area: float) -> tuple[int, int, int, int]:
    """util.py ``compute_aspect_preserved_bbox``: grow each side by at least ``increase_area`` of the
    box's size and the shorter side until the box is square; ``int()`` truncation as the official."""
    left, top, right, bot = bbox[:4]
    width, height = right - left, bot - top
    width_increase = max(increase_area, ((1 + 2 * increase_area) * height - width) / (2 * width))
    height_increase = max(increase_area, ((1 + 2 * increase_area) * width - height) / (2 * height))
    return (int(left - width_increase * width), int(top - height_increase * height),
            int(right + width_increase * width), int(bot + height_increase * height))


def compute_increased_bbox(bbox: BoxF, increase_area: float) -> tuple[int, int, int, int]:
    """util.py ``compute_increased_bbox``: grow each side by ``increase_area`` of the box's size."""
    left, top, right, bot = bbox[:4]
    width, height = right - left, bot - top
    return (int(left - increase_area * width), int(top - increase_area * height),
            int(right + increase_area * width), int(bot + increase_area * height))


def crop_bbox(n_frames: int, frame_hw: tuple[int, int], tube_bbox: BoxF, min_frames: int = 16, min_size: int = 200,
              increase_area: float = 0.1, aspect_preserving: bool = True) -> tuple[int, int, int, int] | None:
    """util.py ``crop_bbox_from_frames`` without the cropping: None when the tube is shorter than
    ``min_frames``, its larger side below ``min_size`` or its enlarged box leaves the frame; else
    the enlarged box ``[left, top, right, bot]`` that the metadata stores."""
    if n_frames < min_frames:
        return None
    left, top, right, bot = tube_bbox[:4]
    width, height = right - left, bot - top
    if max(width, height) < min_size:
        return None
    if width <= 0 or height <= 0:  # the official divides by zero here (min_size 0, no detection)
        return None
    if aspect_preserving:
        left, top, right, bot = compute_aspect_preserved_bbox(tube_bbox, increase_area)
    else:
        left, top, right, bot = compute_increased_bbox(tube_bbox, increase_area)
    out_of_bounds = (-min(0, left), right - min(right, frame_hw[1]), -min(0, top), bot - min(bot, frame_hw[0]))
    if max(out_of_bounds[0] / float(width), out_of_bounds[1] / float(width),
           out_of_bounds[2] / float(height), out_of_bounds[3] / float(height)) > 0:
        return None  # "Not use near the border"
    return (int(left), int(top), int(right), int(bot))
