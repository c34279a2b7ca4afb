"""Which frames and which pixels a chunk takes: the formulas of video-preprocessing's ``load_videos.py``.

* a chunk takes the frames ``i`` (0-based decode order) with
  ``i * ref_fps >= start * fps and i * ref_fps < end * fps``, ``ref_fps`` being the metadata's fps
  and ``fps`` the file's, as imageio reports it (ffmpeg's printed ``avg_frame_rate``, see
  :func:`imageio_fps`);
* the bbox ``left-top-right-bot`` is rescaled per frame as ``int(left / (ref_width / W))`` (``W``,
  ``H`` the decoded frame's size), cropped ``frame[top:bot, left:right]`` and resized with
  ``img_as_ubyte(skimage.transform.resize(crop, image_shape, anti_aliasing=True))``.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from bench.datasets.metadata import Box, Number


def imageio_fps(rate: Fraction | float | None) -> float:
    """The fps ``imageio.get_reader(path).get_meta_data()['fps']`` gives ``load_videos.py``:
    imageio-ffmpeg parses the ``<x> fps`` that ffmpeg prints for the stream's ``avg_frame_rate``,
    and ffmpeg's ``print_fps`` rounds it (``%3.2f`` unless whole, ``%1.4f`` below 0.005), e.g.
    30000/1001 -> 29.97. 0.0 when unknown."""
    if rate is None:
        return 0.0
    d = float(rate)
    if not math.isfinite(d) or d <= 0:
        return 0.0
    v = int(np.rint(np.float32(d * 100)))  # lrintf(d * 100)
    if v == 0:
        return float("%1.4f" % d)
    if v % 100:
        return float("%3.2f" % d)
    if v % (100 * 1000):
        return float("%1.0f" % d)
    return d  # ffmpeg prints "<n>k fps", which imageio-ffmpeg does not parse; keep the rate


def in_window(i: int, start: Number, end: Number, ref_fps: Number, fps: float) -> bool:
    """``load_videos.run``: frame ``i`` belongs to the chunk when
    ``i * ref_fps >= start * fps and i * ref_fps < end * fps``."""
    return (i * ref_fps >= start * fps) and (i * ref_fps < end * fps)


def first_frame_at(t: Number, ref_fps: Number, fps: float) -> int:
    """The smallest frame index ``i >= 0`` with ``i * ref_fps >= t * fps`` (the same float expression
    as :func:`in_window`), so ``[first_frame_at(start), first_frame_at(end))`` is a chunk's frames."""
    i = max(0, int(math.floor(t * fps / ref_fps)) - 2)
    while not i * ref_fps >= t * fps:
        i += 1
    while i > 0 and (i - 1) * ref_fps >= t * fps:
        i -= 1
    return i


def rescale_bbox(bbox: Box, ref_width: Number, ref_height: Number, width: int, height: int) -> Box:
    """``load_videos.run``: ``left = int(left / (ref_width / frame.shape[1]))`` and likewise for
    top, right (width) and bot (height): the metadata's box in the decoded frame's pixels."""
    left, top, right, bot = bbox
    return (int(left / (ref_width / width)), int(top / (ref_height / height)),
            int(right / (ref_width / width)), int(bot / (ref_height / height)))


def resize_crop(crop: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """``load_videos.run``: ``img_as_ubyte(resize(crop, image_shape, anti_aliasing=True))`` with
    scikit-image's defaults (bilinear ``order=1``, ``mode='reflect'``, Gaussian anti-aliasing with
    ``sigma = (scale - 1) / 2``, values in [0, 1], rounded to uint8)."""
    from skimage import img_as_ubyte
    from skimage.transform import resize

    return img_as_ubyte(resize(crop, hw, anti_aliasing=True))
