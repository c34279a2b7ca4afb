"""Streaming readers for every FOMM on-disk video format.

A video under ``<root>/<split>/`` is one of: a folder of frame images (sorted by name), an
``.mp4``/``.mov``/``.avi``/``.mkv``/``.webm`` file (decoded with PyAV), a ``.gif``, or a
``.png``/``.jpg`` strip of square frames concatenated horizontally. Frames are yielded one at
a time as ``H x W x 3`` uint8 arrays so that no reader holds more than one video in memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image, ImageSequence

from bench.errors import DataError

if TYPE_CHECKING:
    import torch

    from bench.datasets.spec import DatasetSpec

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
MOVIE_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")
STRIP_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "test")

Size = int | tuple[int, int] | None


@dataclass(frozen=True)
class VideoRef:
    """One video of a split: its name on disk, full path and identity."""

    name: str
    path: Path
    identity: str


def video_kind(path: Path) -> str | None:
    """``'folder'``, ``'movie'``, ``'gif'``, ``'strip'`` or None when ``path`` is no video."""
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in MOVIE_SUFFIXES:
        return "movie"
    if suffix == ".gif":
        return "gif"
    if suffix in STRIP_SUFFIXES:
        return "strip"
    return None


def split_entries(split_dir: Path) -> list[Path]:
    """Visible entries of a split folder, sorted by name (hidden files and temp dirs skipped)."""
    try:
        return sorted((p for p in split_dir.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    except OSError as exc:
        raise DataError(f"cannot list {split_dir}: {exc.strerror}") from None


def list_videos(root: str | Path, split: str, spec: DatasetSpec) -> list[VideoRef]:
    """Videos of ``<root>/<split>`` sorted by name, with identities from ``spec``.

    Entries that are no video (e.g. ``notes.txt``) are skipped here; ``verify`` reports them.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset root not found: {root}")
    split_dir = root / split
    if not split_dir.is_dir():
        raise DataError(f"split folder not found: {split_dir} (expected FOMM layout <root>/train, <root>/test)")
    return [VideoRef(p.name, p, spec.identity_of(p.name)) for p in split_entries(split_dir) if video_kind(p)]


def frame_files(folder: Path) -> list[Path]:
    """Frame images of a frame-folder video, sorted by name (other files such as keypoints ignored)."""
    try:
        entries = list(folder.iterdir())
    except OSError as exc:
        raise DataError(f"cannot list frame folder {folder}: {exc.strerror}") from None
    return sorted((p for p in entries if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith(".")),
                  key=lambda p: p.name)


def _target_hw(size: Size) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    return (int(size[0]), int(size[1]))


def _to_array(image: Image.Image, hw: tuple[int, int] | None) -> np.ndarray:
    """RGB uint8 array of ``image``, resized (antialiased bicubic) to ``hw`` = (H, W) if given."""
    if image.mode != "RGB":
        image = image.convert("RGBA").convert("RGB") if image.mode in ("P", "LA", "PA") else image.convert("RGB")
    if hw is not None and (image.height, image.width) != hw:
        image = image.resize((hw[1], hw[0]), Image.Resampling.BICUBIC, reducing_gap=None)
    return np.asarray(image, dtype=np.uint8)


def _read_image(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


def _iter_folder(path: Path, hw: tuple[int, int] | None) -> Iterator[np.ndarray]:
    files = frame_files(path)
    if not files:
        raise DataError(f"empty video folder (no frame images): {path}")
    for file in files:
        yield _to_array(_read_image(file), hw)


def _iter_movie(path: Path, hw: tuple[int, int] | None) -> Iterator[np.ndarray]:
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise DataError(f"cannot open video {path}: {exc}") from None
    with container:
        if not container.streams.video:
            raise DataError(f"no video stream in {path}")
        stream = container.streams.video[0]
        expected = stream.frames
        count = 0
        try:
            for frame in container.decode(stream):
                count += 1
                yield _to_array(frame.to_image(), hw)
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise DataError(f"corrupt or truncated video {path} after {count} frames: {exc}") from None
        if count == 0:
            raise DataError(f"no frames decoded from {path}")
        if expected and count < expected:
            raise DataError(f"truncated video {path}: decoded {count} of {expected} frames")


def _iter_gif(path: Path, hw: tuple[int, int] | None) -> Iterator[np.ndarray]:
    try:
        image = Image.open(path)
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot read gif {path}: {exc}") from None
    with image:
        count = 0
        try:
            for frame in ImageSequence.Iterator(image):
                count += 1
                yield _to_array(frame, hw)
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise DataError(f"corrupt or truncated gif {path} after {count} frames: {exc}") from None


def _strip_layout(path: Path, image: Image.Image) -> int:
    """Number of square frames in a horizontal strip; raises when the width is no multiple."""
    height, width = image.height, image.width
    if height == 0 or width % height:
        raise DataError(f"image strip {path} is {width}x{height}: width is not a multiple of the height "
                        "(expected square frames side by side)")
    return width // height


def _iter_strip(path: Path, hw: tuple[int, int] | None) -> Iterator[np.ndarray]:
    image = _read_image(path)
    n = _strip_layout(path, image)
    side = image.height
    for i in range(n):
        yield _to_array(image.crop((i * side, 0, (i + 1) * side, side)), hw)


_READERS = {"folder": _iter_folder, "movie": _iter_movie, "gif": _iter_gif, "strip": _iter_strip}


def iter_frames(path: str | Path, size: Size = None) -> Iterator[np.ndarray]:
    """Yield the frames of one video as ``H x W x 3`` uint8, resized (antialiased) when ``size``
    (an int for square frames or ``(H, W)``) is given. Unreadable input raises ``DataError``."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"video not found: {path}")
    kind = video_kind(path)
    if kind is None:
        raise DataError(f"unknown video format: {path} (expected a frame folder, .mp4, .gif or a .png strip)")
    yield from _READERS[kind](path, _target_hw(size))


def read_video(path: str | Path, size: Size = None) -> np.ndarray:
    """All frames of one video as ``T x H x W x 3`` uint8."""
    return np.stack(list(iter_frames(path, size)))


def read_frames(path: str | Path, indices: Sequence[int], size: Size = None) -> np.ndarray:
    """The frames at ``indices`` (any order, repeats allowed) as ``len(indices) x H x W x 3`` uint8.

    Frame folders read only the requested files; other formats decode up to the last index.
    """
    path = Path(path)
    if not indices:
        raise ValueError("read_frames needs at least one index")
    if video_kind(path) == "folder":
        files = frame_files(path)
        if not files:
            raise DataError(f"empty video folder (no frame images): {path}")
        _check_indices(path, indices, len(files))
        hw = _target_hw(size)
        return np.stack([_to_array(_read_image(files[i]), hw) for i in indices])
    if min(indices) < 0:
        raise DataError(f"negative frame index {min(indices)} for {path}")
    wanted, last = set(indices), max(indices)
    found: dict[int, np.ndarray] = {}
    count = 0
    for index, frame in enumerate(iter_frames(path, size)):
        count = index + 1
        if index in wanted:
            found[index] = frame
        if index == last:
            break
    _check_indices(path, indices, count)
    return np.stack([found[i] for i in indices])


def _check_indices(path: Path, indices: Iterable[int], n: int) -> None:
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise DataError(f"frame index {bad[0]} out of range for {path} ({n} frames)")


def num_frames(path: str | Path) -> int:
    """Number of frames, from headers where the format stores it (mp4, gif, strip, folder)."""
    path = Path(path)
    kind = video_kind(path)
    if kind == "folder":
        return len(frame_files(path))
    if kind == "strip":
        return _strip_layout(path, _read_image(path))
    if kind == "gif":
        try:
            with Image.open(path) as image:
                return int(getattr(image, "n_frames", 1))
        except (OSError, ValueError, SyntaxError) as exc:
            raise DataError(f"cannot read gif {path}: {exc}") from None
    if kind == "movie":
        import av

        try:
            with av.open(str(path)) as container:
                if container.streams.video and container.streams.video[0].frames:
                    return int(container.streams.video[0].frames)
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise DataError(f"cannot open video {path}: {exc}") from None
    return sum(1 for _ in iter_frames(path))


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """``T x H x W x 3`` (or one ``H x W x 3``) uint8/float frames -> float ``T x 3 x H x W`` in [0, 1]."""
    import torch  # deferred: listing and verifying datasets does not need torch

    array = np.asarray(frames)
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    tensor = tensor.float() / 255.0 if array.dtype == np.uint8 else tensor.float().clamp(0.0, 1.0)
    return tensor.movedim(-1, -3).contiguous()
