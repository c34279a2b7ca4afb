"""The AKD / MKR / AED metrics print pose-evaluation's numbers: the official comparison scripts' exact
outputs (../shared/reference/pose-evaluation/cmp_cases.*) on videos of 40, 12 and 7 frames with
missing detections, fed through the streaming metrics frame by frame (the detections / embeddings
come from the fixture through a stand-in backend, so only the metric's pooling is under test)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.metrics.akd import AKD
from bench.metrics.identity import AED
from bench.metrics.aggregation import aggregate

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "pose-evaluation"


@pytest.fixture(scope="module")
def cases():
    if not (FIXTURES / "cmp_cases.json").is_file():
        pytest.skip(f"pose-evaluation fixtures not found at {FIXTURES}")
    meta = json.loads((FIXTURES / "cmp_cases.json").read_text())
    with np.load(FIXTURES / "cmp_cases.npz") as data:
        arrays = dict(data)
    names = ("face_akd", "body_akd_mkr", "aed_face_id", "aed_body_id")
    return {name: (case, arrays) for name, case in zip(names, meta["cases"])}


def _frames(side: int, video: int, count: int) -> torch.Tensor:
    """Frames that encode (side, video, index) in their first pixel, exactly through uint8."""
    frames = torch.zeros(count, 3, 4, 4)
    frames[:, 0, 0, 0] = side / 255.0
    frames[:, 1, 0, 0] = video / 255.0
    frames[:, 2, 0, 0] = torch.arange(count) / 255.0
    return frames


class Lookup:
    """A stand-in backend: the fixture's value of the frame encoded in the image (None where missing)."""

    def __init__(self, table: dict[tuple[int, int, int], object], num_keypoints: int = 68) -> None:
        self.table = table
        self.num_keypoints = num_keypoints

    def __call__(self, images: np.ndarray) -> list:
        return [self.table[tuple(int(v) for v in image[0, 0])] for image in images]


def _feed(metric, case: dict, arrays: dict, key: str, as_value) -> None:
    """Every video of the case, in batches of 5 frames (the gt side is the metric's target)."""
    table = {}
    for video, (gt, gen) in enumerate(zip(case["gt_videos"], case["gen_videos"])):
        for side, info in ((0, gt), (1, gen)):
            kind = "gt" if side == 0 else "gen"
            values = arrays[f"{key}::{kind}::{info['file_name']}"]
            none = arrays[f"{key}::{kind}_none::{info['file_name']}"]
            for i in range(info["frames"]):
                table[(side, video, i)] = None if none[i] else as_value(values[i])
    backend = metric.detector if isinstance(metric, AKD) else metric.embedder
    backend.table.update(table)
    for video, gt in enumerate(case["gt_videos"]):
        count = gt["frames"]
        real, generated = _frames(0, video, count), _frames(1, video, count)
        for start in range(0, count, 5):
            metric.update(generated[start:start + 5], real[start:start + 5], video=gt["file_name"].split(".")[0])


def test_face_akd_is_cmp_kp_py(cases):
    case, arrays = cases["face_akd"]
    metric = AKD(backend="dlib", detector=Lookup({}))
    _feed(metric, case, arrays, "face_akd", lambda v: (v, np.ones(len(v), bool)))
    result = aggregate(metric.compute())
    assert result.value == pytest.approx(case["expected"]["values"]["Average difference"], rel=1e-12)
    assert result.extra["scored_frames"] == 59 - 8 and result.extra["skipped_frames"] == 8


def test_body_akd_and_mkr_are_cmp_with_missing_py(cases):
    case, arrays = cases["body_akd_mkr"]
    metric = AKD(backend="openpose", detector=Lookup({}, num_keypoints=18))
    _feed(metric, case, arrays, "body_akd_mkr", lambda v: (v, v[:, 0] != -1))
    result = aggregate(metric.compute())
    values = case["expected"]["values"]
    assert result.value == pytest.approx(values["Average difference"], rel=1e-12)
    assert result.extra["mkr"] == pytest.approx(values["Missing count"], rel=1e-12)


@pytest.mark.parametrize("key", ["aed_face_id", "aed_body_id"])
def test_reconstruction_aed_is_cmp_py(cases, key):
    case, arrays = cases[key]
    metric = AED(backend="fake", embedder=Lookup({}))
    _feed(metric, case, arrays, key, lambda v: v)
    assert aggregate(metric.compute()).value == pytest.approx(case["expected"]["values"]["Average difference"], rel=1e-12)


def test_video_mean_convention_is_the_mean_of_per_video_means(cases):
    case, arrays = cases["face_akd"]
    pooled = AKD(backend="dlib", detector=Lookup({}))
    per_video = AKD(backend="dlib", detector=Lookup({}))
    for metric in (pooled, per_video):
        _feed(metric, case, arrays, "face_akd", lambda v: (v, np.ones(len(v), bool)))
    result = aggregate(per_video.compute(), "video-mean")
    assert result.value == pytest.approx(np.mean(list(result.per_video.values())), rel=1e-12)
    assert result.per_video == aggregate(pooled.compute()).per_video  # per-video values do not depend on the convention
    assert abs(result.value - aggregate(pooled.compute()).value) > 0.1  # the two conventions differ on these videos
