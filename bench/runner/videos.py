"""Side-by-side sample videos (source | driving | generated) for a run's first items."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.files import atomic_write
from bench.runner.store import file_name

FPS = 25


def _uint8(frames: torch.Tensor) -> np.ndarray:
    """``T x 3 x H x W`` floats in [0, 1] -> ``T x H x W x 3`` uint8."""
    return (frames.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def side_by_side(source: torch.Tensor, driving: torch.Tensor, generated: np.ndarray) -> np.ndarray:
    """Frames ``T x H x 3W x 3``: the source image, the driving frame and the generated frame."""
    drv = _uint8(driving)
    src = np.broadcast_to(_uint8(source), drv.shape)
    return np.concatenate([src, drv, generated], axis=2)


def write_video(directory: str | Path, name: str, frames: np.ndarray) -> Path:
    """Write ``frames`` as an H.264 mp4 named after the item (atomically)."""
    import imageio.v2 as imageio

    target = Path(directory) / (Path(file_name(name)).stem + ".mp4")

    def encode(tmp: Path) -> None:
        with imageio.get_writer(tmp, fps=FPS, codec="libx264", macro_block_size=1, quality=8) as writer:
            for frame in frames:
                writer.append_data(frame)

    return atomic_write(target, encode)
