"""The ``source | driving | generated`` strips of ``bench run --save-videos``, decoded and re-encoded as H.264 mp4s
that browsers play (the HTML report's videos)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_FPS = 25.0


@dataclass
class Strip:
    """A ``source | driving | generated`` video split into its three parts."""

    title: str | None
    fps: float
    source: np.ndarray  # H x W x 3
    driving: np.ndarray  # T x H x W x 3
    generated: np.ndarray  # T x H x W x 3


def read_strip(path: str | Path) -> Strip:
    """Decode a side-by-side video of ``bench run --save-videos`` and cut it into thirds."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate) if stream.average_rate else DEFAULT_FPS
        title = container.metadata.get("title")
        frames = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(stream)])
    width = frames.shape[2] // 3
    return Strip(title, fps, frames[0, :, :width], frames[:, :, width:2 * width], frames[:, :, 2 * width:3 * width])


def _even(frames: np.ndarray) -> np.ndarray:
    """Pad height and width to even sizes (H.264 in 4:2:0, what every browser plays, needs them)."""
    height, width = frames.shape[1:3]
    return np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")


def encode_mp4(frames: np.ndarray, path: Path, fps: float) -> Path:
    """``T x H x W x 3`` uint8 frames as an H.264 (yuv420p, faststart) mp4 that browsers play."""
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    with imageio.get_writer(path, fps=fps, codec="libx264", quality=9, macro_block_size=2, pixelformat="yuv420p",
                            output_params=["-movflags", "+faststart", "-g", "10"]) as writer:
        for frame in _even(frames):
            writer.append_data(frame)
    return path


def slug(text: str) -> str:
    """A file-name-safe form of a name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"
