"""Writing one prepared chunk: an mp4 as ``imageio.mimsave`` makes it, or a folder of png frames.

``load_videos.py`` of video-preprocessing saves a chunk with ``imageio.mimsave`` (libx264, yuv420p,
quality 5 = CRF 25, 10 fps) or, with ``--format .png``, ``util.save``'s ``0000000.png ...``. Here
mp4 goes through PyAV with the same recipe (bytes, not the recipe, differ) and png through PIL
(identical pixels). A chunk is written under a hidden temporary name and renamed when complete,
so reruns skip finished chunks and never see partial ones.
"""
from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

import numpy as np

FORMATS = ("mp4", "png")

# imageio.mimsave(path, frames) for .mp4 = imageio's FFMPEG writer defaults: fps=10, codec='libx264',
# pixelformat='yuv420p', quality=5, which imageio-ffmpeg turns into '-crf int((1 - 5 / 10) * 51)'.
MP4_FPS = 10
MP4_CODEC = "libx264"
MP4_PIX_FMT = "yuv420p"
MP4_CRF = int((1 - 5 / 10.0) * 51)


def _temp_path(final: Path) -> Path:
    return final.parent / f".{final.name}.tmp-{os.getpid()}"


def remove_stale_temps(final: Path) -> None:
    """Remove what an interrupted run left of ``final`` (hidden ``.<name>.tmp-<pid>``)."""
    for leftover in glob.glob(str(final.parent / f".{glob.escape(final.name)}.tmp-*")):
        _remove(Path(leftover))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


class ChunkWriter:
    """Writes one chunk under a hidden temporary name; :meth:`commit` renames it into place."""

    def __init__(self, final: Path, fmt: str) -> None:
        self.final = final
        self.fmt = fmt
        self.tmp = _temp_path(final)
        self.count = 0
        self._container = None
        self._stream = None

    def write(self, frame: np.ndarray) -> None:
        if self.fmt == "png":
            from PIL import Image

            if self.count == 0:
                self.tmp.mkdir(parents=True)
            Image.fromarray(frame).save(self.tmp / f"{self.count:07d}.png")  # util.save: str(j).zfill(7) + '.png'
        else:
            import av

            if self._container is None:
                self._container = av.open(str(self.tmp), "w", format="mp4")
                self._stream = self._container.add_stream(MP4_CODEC, rate=MP4_FPS)
                self._stream.width, self._stream.height = frame.shape[1], frame.shape[0]
                self._stream.pix_fmt = MP4_PIX_FMT
                self._stream.options = {"crf": str(MP4_CRF)}
            for packet in self._stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                self._container.mux(packet)
        self.count += 1

    def commit(self) -> None:
        if self._container is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None
        os.replace(self.tmp, self.final) if self.fmt == "mp4" else os.rename(self.tmp, self.final)

    def abort(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - the temp file goes anyway
                pass
            self._container = None
        _remove(self.tmp)
