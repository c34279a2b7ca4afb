"""Side-by-side sample videos (source | driving | generated) for a seeded choice of a run's items.

``--save-videos K`` keeps the K items with the smallest SHA-256 keys of (seed, item name) (as
``bench.datasets.sampling`` ranks reference frames and pairs): every method evaluated with the same
seed on the same items keeps the same videos, so the HTML report can show them side by side, and the
videos kept for K are among those kept for any larger K.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from bench.datasets.sampling import stable_key
from bench.files import atomic_write
from bench.runner.store import file_name

FPS = 25


def chosen_items(names: Sequence[str], k: int, seed: int) -> list[str]:
    """The ``k`` names (of ``names``, in their order) whose videos a run keeps: those with the smallest
    keyed hash of (seed, name). Independent of the method and of the order of ``names``."""
    ranked = sorted(set(names), key=lambda name: (stable_key("videos", seed, name), name))
    keep = set(ranked[:max(0, k)])
    return [name for name in names if name in keep]


def video_file(name: str) -> str:
    """File name of an item's side-by-side video (``videos/<this>``): no ``#``, which MLflow refuses in
    the artifact paths it downloads (the name's hash keeps the file names distinct)."""
    return Path(file_name(name)).stem.replace("#", "_") + ".mp4"


def _uint8(frames: torch.Tensor) -> np.ndarray:
    """``T x 3 x H x W`` floats in [0, 1] -> ``T x H x W x 3`` uint8."""
    return (frames.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def side_by_side(source: torch.Tensor, driving: torch.Tensor, generated: np.ndarray) -> np.ndarray:
    """Frames ``T x H x 3W x 3``: the source image, the driving frame and the generated frame."""
    drv = _uint8(driving)
    src = np.broadcast_to(_uint8(source), drv.shape)
    return np.concatenate([src, drv, generated], axis=2)


def write_video(directory: str | Path, name: str, frames: np.ndarray) -> Path:
    """Write ``frames`` as an H.264 mp4 named after the item (atomically); its ``title`` metadata is the
    item's name (the file name is a lossy, hashed form of it)."""
    import imageio.v2 as imageio

    target = Path(directory) / video_file(name)

    def encode(tmp: Path) -> None:
        with imageio.get_writer(tmp, fps=FPS, codec="libx264", macro_block_size=1, quality=8,
                                output_params=["-metadata", f"title={name}"]) as writer:
            for frame in frames:
                writer.append_data(frame)

    return atomic_write(target, encode)
