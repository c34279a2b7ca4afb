"""The AKD / MKR / AED metrics print pose-evaluation's numbers: the official comparison scripts' exact
outputs (cmp_cases.* of ../shared/reference/pose-evaluation and of tests/fixtures/pose-evaluation) on videos of
several lengths with missing detections, fed through the streaming metrics frame by frame (the detections /
embeddings come from the fixture through a stand-in backend, so only the metric's pooling is under test).
Cases, counts and expected values come from the fixture files; where ``cmp_kp.py`` crashed, the documented
rule (such frames are not scored) is checked instead."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.metrics.akd import AKD
from bench.metrics.identity import AED
from bench.metrics.aggregation import aggregate
from tests.reference import POSE_EVALUATION, pose_evaluation_folders


def _cases(script: str) -> list[tuple[dict, Path]]:
    return [(case, folder) for folder in pose_evaluation_folders("cmp_cases.json")
            for case in json.loads((folder / "cmp_cases.json").read_text())["cases"] if case["script"] == script]


def _id(item: tuple[dict, Path]) -> str:
    return f"{'shared' if item[1] == POSE_EVALUATION else 'local'}:{item[0]['case']}"


def _arrays(folder: Path, case: dict) -> dict[str, np.ndarray]:
    with np.load(folder / case["npz"]) as data:
        return {k: data[k] for k in data.files if k.startswith(case["case"] + "::")}


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


def _table_nones(case: dict, arrays: dict, side: str) -> list[np.ndarray]:
    return [arrays[f"{case['case']}::{side}_none::{v['file_name']}"] for v in case[f"{side}_videos"]]


@pytest.mark.parametrize("item", _cases("cmp_kp.py"), ids=_id)
def test_face_akd_is_cmp_kp_py(item):
    case, folder = item
    arrays = _arrays(folder, case)
    metric = AKD(backend="dlib", detector=Lookup({}))
    _feed(metric, case, arrays, case["case"], lambda v: (v, np.ones(len(v), bool)))
    result = aggregate(metric.compute())
    gt_none, gen_none = np.concatenate(_table_nones(case, arrays, "gt")), np.concatenate(_table_nones(case, arrays, "gen"))
    assert result.extra["driving_missing_frames"] == gt_none.sum()
    assert result.extra["scored_frames"] + result.extra["skipped_frames"] == len(gt_none)
    if case["expected"]["returncode"] == 0:  # the number the script printed
        assert result.value == pytest.approx(case["expected"]["values"]["Average difference"], rel=1e-12)
        assert result.extra["scored_frames"] == case["other_averages_for_reference"]["frames_scored"]
        return
    # cmp_kp.py crashed (a driving frame without a face, a generated one with a face): the rule scores the
    # frames with a face on both sides only
    assert (gt_none & ~gen_none).any()
    assert result.extra["scored_frames"] == (~gt_none & ~gen_none).sum()
    reference = case["other_averages_for_reference"].get("per_video_mean_of_means_NOT_official")
    if reference is not None:
        assert np.mean(list(result.per_video.values())) == pytest.approx(reference, rel=1e-12)


@pytest.mark.parametrize("item", _cases("cmp_with_missing.py"), ids=_id)
def test_body_akd_and_mkr_are_cmp_with_missing_py(item):
    case, folder = item
    metric = AKD(backend="openpose", detector=Lookup({}, num_keypoints=18))
    _feed(metric, case, _arrays(folder, case), case["case"], lambda v: (v, v[:, 0] != -1))
    result = aggregate(metric.compute())
    values = case["expected"]["values"]
    if math.isnan(values["Average difference"]):  # no frame scored: nan there, N/A here
        assert result.value is None and result.extra["scored_frames"] == 0
    else:
        assert result.value == pytest.approx(values["Average difference"], rel=1e-12)
    assert result.extra["mkr"] == pytest.approx(values["Missing count"], rel=1e-12)


@pytest.mark.parametrize("item", _cases("cmp.py"), ids=_id)
def test_reconstruction_aed_is_cmp_py(item):
    case, folder = item
    metric = AED(backend="fake", embedder=Lookup({}))
    _feed(metric, case, _arrays(folder, case), case["case"], lambda v: v)
    assert aggregate(metric.compute()).value == pytest.approx(case["expected"]["values"]["Average difference"], rel=1e-12)


@pytest.mark.parametrize("item", [i for i in _cases("cmp_kp.py") if i[0]["expected"]["returncode"] == 0], ids=_id)
def test_video_mean_convention_is_the_mean_of_per_video_means(item):
    case, folder = item
    arrays = _arrays(folder, case)
    pooled = AKD(backend="dlib", detector=Lookup({}))
    per_video = AKD(backend="dlib", detector=Lookup({}))
    for metric in (pooled, per_video):
        _feed(metric, case, arrays, case["case"], lambda v: (v, np.ones(len(v), bool)))
    result = aggregate(per_video.compute(), "video-mean")
    assert result.value == pytest.approx(np.mean(list(result.per_video.values())), rel=1e-12)
    assert result.per_video == aggregate(pooled.compute()).per_video  # per-video values do not depend on the convention
    reference = case["other_averages_for_reference"].get("per_video_mean_of_means_NOT_official")
    if reference is not None:
        assert result.value == pytest.approx(reference, rel=1e-12)
