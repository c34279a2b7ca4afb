"""pose-evaluation's comparison scripts and ``frames2array``, as pure per-frame functions.

Reference: AliaksandrSiarohin/pose-evaluation @ 1bc4cae (``cmp.py``, ``cmp_kp.py``, ``cmp_with_missing.py``,
``util.py::frames2array``), the code behind the AKD / MKR / AED numbers of FOMM, MRAA, TPSMM and SADM;
the conventions are pinned by ``shared/reference/pose-evaluation/README.md`` (§1.4, §1.5) and its fixtures.

The scripts read two pickled DataFrames (``file_name``, ``frame_number``, ``value``): the ground truth first,
the generated videos second. Conventions reproduced here:

* **Pairing** (:func:`pair_rows`): each table is sorted by ``(file_name, frame_number)`` (full file name,
  extension included, Python string order) and rows are paired **by position**; the names before the first
  ``'.'`` must be equal (``x.mp4`` pairs with ``x.png``) and so must the frame numbers (the scripts
  ``assert``; here a :class:`ValueError` names both rows). ``cmp.py`` and ``cmp_with_missing.py`` assert
  equal table shapes (``same_length=True``); ``cmp_kp.py`` does not and walks the ground-truth rows
  (``same_length=False``: extra generated rows are ignored, fewer generated rows are an error, where the
  script dies with an IndexError).
* **Pooling**: one term per frame, pooled over **all frames of all videos** (not a per-video mean), printed as
  ``"%s" % np.mean(terms)`` (:func:`format_mean`): the shortest repr of the float64, or ``nan`` (with numpy's
  RuntimeWarning) when no frame was scored. ``np.mean`` sums pairwise in sorted row order, so pool the terms in
  the order :func:`pair_rows` returns them to get the printed digits exactly.
* **Face AKD** (``cmp_kp.py``, :func:`face_akd_term`): frames whose generated value is ``None`` (no face found)
  are skipped; otherwise the mean absolute **coordinate** difference over the 68 x 2 numbers (not a Euclidean
  distance), the subtraction done in the inputs' dtype (float32 from face-alignment), then cast to float64.
* **Body AKD / MKR** (``cmp_with_missing.py``, :func:`body_akd_mkr_terms`): a joint is missing when its x is
  ``-1`` (y is not checked: a joint with only y = -1 is present and its -1 enters the AKD). MKR term
  ``fail / (K - missing_gt)`` with ``fail`` = present in gt and missing in gen, skipped when gt has no joint;
  AKD term ``mean |gt - gen|`` over x and y of the joints present in both, skipped when there is none.
* **AED** (``cmp.py``, :func:`aed_term`): the **squared** L2 distance ``sum(|gt - gen| ** 2)``, the subtraction
  in the inputs' dtype (float32 embeddings); no missing-value handling.
* **frames2array** (:func:`frames2array`): util.py's reader, quirks included (see its docstring).
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

REFERENCE = "AliaksandrSiarohin/pose-evaluation@1bc4cae"
NUM_BODY_JOINTS = 18  # cmp_with_missing.py hard-codes 18 (rtpose's COCO-18); K = len(gt) here

Row = Sequence[Any]  # (file_name, frame_number, value)


# --------------------------------------------------------------------------------------------- per-frame terms
def face_akd_term(gt: np.ndarray | None, gen: np.ndarray | None, on_missing_gt: str = "raise") -> float | None:
    """cmp_kp.py's per-frame term: ``None`` (frame not scored) when ``gen`` is None, else
    ``mean(|gt - gen|)`` over all coordinates, the subtraction in the inputs' dtype.

    ``gt`` None (no face in the ground-truth frame) with a generated face makes the official script crash
    with a TypeError, so it never printed a number for such data. ``on_missing_gt="raise"`` (default)
    reproduces that as a TypeError naming the cause; ``on_missing_gt="skip"`` scores the frame as not
    scored (None) instead, which leaves every number the official script does print unchanged. gt and gen
    both None is skipped, as in the script (it tests gen first).
    """
    if gen is None:
        return None
    if gt is None:
        if on_missing_gt == "skip":
            return None
        if on_missing_gt != "raise":
            raise ValueError(f"on_missing_gt must be 'raise' or 'skip', not {on_missing_gt!r}")
        raise TypeError("face AKD: ground-truth landmarks are None (no face detected in the ground-truth frame) "
                        "while the generated frame has landmarks; the official cmp_kp.py crashes here")
    return float(np.mean(np.abs(np.asarray(gt) - np.asarray(gen)).astype(float)))


def body_akd_mkr_terms(gt: np.ndarray, gen: np.ndarray) -> tuple[float | None, float | None]:
    """cmp_with_missing.py's per-frame ``(AKD term, MKR term)`` for K x 2 (x, y) joints, -1 = missing;
    each is None when the script skips it (no joint present in both / no joint in gt)."""
    gt, gen = np.asarray(gt), np.asarray(gen)
    missing_gt = gt[:, 0] == -1
    missing_gen = gen[:, 0] == -1
    present = ~missing_gt & ~missing_gen
    fail = ~missing_gt & missing_gen
    present_gt = len(gt) - missing_gt.sum()
    mkr = float(fail.sum() / present_gt) if present_gt != 0 else None
    akd = float(np.mean(np.abs(gt[present] - gen[present]).astype(float))) if present.sum() != 0 else None
    return akd, mkr


def aed_term(gt: np.ndarray, gen: np.ndarray) -> float:
    """cmp.py's per-frame term: squared L2 distance ``sum(|gt - gen| ** 2)``, subtraction in the inputs' dtype."""
    if gt is None or gen is None:
        raise TypeError("AED: an identity embedding is None; the official cmp.py has no missing-value handling")
    return float(np.sum(np.abs(np.asarray(gt) - np.asarray(gen)).astype(float) ** 2))


# --------------------------------------------------------------------------------------------- pairing, pooling
def _stem(file_name: str) -> str:
    return str(file_name).split(".")[0]


def _sorted_rows(rows: Iterable[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (r[0], r[1]))


def pair_rows(gt_rows: Iterable[Row], gen_rows: Iterable[Row], same_length: bool = True) -> list[tuple[Row, Row]]:
    """The scripts' pairing of ``(file_name, frame_number, value)`` rows: each list sorted by
    ``(file_name, frame_number)``, paired by position; names before the first '.' and frame numbers must match.

    ``same_length=True`` (cmp.py, cmp_with_missing.py) requires as many generated rows as ground-truth rows;
    ``False`` (cmp_kp.py) walks the ground-truth rows only, ignoring extra generated rows.
    Raises ValueError on any mismatch, naming the offending rows.
    """
    gt_sorted, gen_sorted = _sorted_rows(gt_rows), _sorted_rows(gen_rows)
    if same_length and len(gt_sorted) != len(gen_sorted):
        raise ValueError(f"{len(gt_sorted)} ground-truth rows but {len(gen_sorted)} generated rows "
                         f"(the official script asserts equal DataFrame shapes)")
    if len(gen_sorted) < len(gt_sorted):
        raise ValueError(f"{len(gt_sorted)} ground-truth rows but only {len(gen_sorted)} generated rows; "
                         f"no generated row for ground truth {tuple(gt_sorted[len(gen_sorted)][:2])!r}")
    pairs = []
    for i, (gt_row, gen_row) in enumerate(zip(gt_sorted, gen_sorted)):
        if _stem(gt_row[0]) != _stem(gen_row[0]) or gt_row[1] != gen_row[1]:
            raise ValueError(f"sorted row {i}: ground truth {(gt_row[0], gt_row[1])!r} does not match generated "
                             f"{(gen_row[0], gen_row[1])!r} (names are compared before the first '.', and frame "
                             f"numbers must be equal)")
        pairs.append((gt_row, gen_row))
    return pairs


def pooled_mean(values: Iterable[float]) -> float:
    """``np.mean`` of the pooled terms (nan, with numpy's RuntimeWarning, when empty)."""
    return float(np.mean(list(values)))


def format_mean(values: Iterable[float]) -> str:
    """Exactly the text the scripts print after ``"Average difference: "``: ``"%s" % np.mean(list)``."""
    return "%s" % np.mean(list(values))


# --------------------------------------------------------------------------------------------- frames2array
def split_strip(image: np.ndarray, image_shape: Sequence[int]) -> np.ndarray:
    """frames2array's split of a strip image (frames side by side): alpha dropped, ``moveaxis(1, 0)``,
    ``reshape(-1, *image_shape, 3)``, ``moveaxis(1, 2)``; right for ``image_shape == (w, h)``."""
    if image.shape[2] == 4:
        image = image[..., :3]
    video = np.moveaxis(image, 1, 0)
    video = video.reshape((-1,) + tuple(int(s) for s in image_shape) + (3,))
    return np.moveaxis(video, 1, 2)


def frames2array(path: str | os.PathLike, is_video: bool, image_shape: Sequence[int] | None = None,
                 column: int = 0) -> np.ndarray | list:
    """util.py's ``frames2array``: read a video as ``N x H x W x 3`` uint8 frames. It never resizes.

    * a folder: every file of ``sorted(os.listdir)`` read and stacked (no alpha handling);
    * a ``.png`` / ``.jpg`` strip (frames side by side): alpha dropped, then ``moveaxis(1, 0)``,
      ``reshape(-1, *image_shape, 3)``, ``moveaxis(1, 2)``: this splits an h x N*w strip correctly only when
      ``image_shape == (w, h)``, (width, height); (h, w) with h != w scrambles the pixels;
    * ``.gif`` / ``.mp4``: ``np.array(imageio.mimread(path))`` (imageio's default 256 MB memory limit applies);
    * any other extension: a warning and ``[]``;
    * ``is_video=False``: a single image (alpha dropped) as a one-frame video.

    Finally, when ``image_shape`` is given, ``video[:, :, image_shape[1] * column : image_shape[1] * (column + 1)]``:
    a width crop (frames wider than ``image_shape[1]`` are cut, other heights are left as they are; on a strip
    ``column >= 1`` gives width 0). Extensions are matched case-sensitively, as in util.py.
    """
    import imageio.v2 as imageio

    file = os.fspath(path)
    shape = None if image_shape is None else tuple(int(s) for s in image_shape)
    if is_video:
        if os.path.isdir(file):
            video = np.array([imageio.imread(os.path.join(file, name)) for name in sorted(os.listdir(file))])
        elif file.endswith(".png") or file.endswith(".jpg"):
            video = split_strip(imageio.imread(file), shape)
        elif file.endswith(".gif") or file.endswith(".mp4"):
            video = np.array(imageio.mimread(file))
        else:
            warnings.warn("Unknown file extensions  %s" % file, Warning, stacklevel=2)
            return []
    else:
        image = imageio.imread(file)
        if image.shape[2] == 4:
            image = image[..., :3]
        video = image[np.newaxis]

    if shape is None:
        return video
    return video[:, :, (shape[1] * column):(shape[1] * (column + 1))]
