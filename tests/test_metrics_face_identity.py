"""AKD and CSIM/AED on real faces with the offline dlib backends; applicability by domain."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.metrics import applicable, build_metric
from bench.metrics.aggregation import aggregate

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
CLIP_A = "tpsdemo#000000#000039.mp4"
CLIP_B = "tpsdemo#000080#000119.mp4"


def _face(clip: str, n: int = 3, step: int = 10) -> torch.Tensor:
    if not REAL.is_dir():
        pytest.skip(f"shared real frames not found at {REAL}")
    from bench.datasets.video_io import read_video, to_tensor

    return to_tensor(read_video(REAL / "face" / "test" / clip)[::step][:n])


def _other_person() -> torch.Tensor:
    from bench.datasets.video_io import read_frames, to_tensor

    return to_tensor(read_frames(REAL / "face" / "sources" / "tps_source.png", [0]))


@pytest.mark.parametrize("shift", [0, 4, 8])
def test_dlib_akd_of_shifted_frames_is_about_half_the_shift(shift):
    real = _face(CLIP_A, n=2)
    # shift right by `shift` px, padding with the edge column (no wrap-around content)
    shifted = torch.cat([real[..., :1].expand(-1, -1, -1, shift), real[..., : real.shape[-1] - shift]], dim=-1)
    metric = build_metric("akd", "face", backend="dlib")
    metric.update(shifted, real, video="v")
    result = aggregate(metric.compute())
    assert result.extra["skipped_frames"] == 0 and result.extra["scored_frames"] == 2
    # cmp_kp.py: the mean absolute coordinate difference; x moves by `shift`, y does not
    assert result.value == pytest.approx(shift / 2, abs=1.0)


def test_akd_does_not_score_frames_whose_generated_frame_has_no_face():
    real = _face(CLIP_A, n=2)
    blank = torch.full_like(real, 0.5)
    metric = build_metric("akd", "face", backend="dlib")
    metric.update(blank, real, video="v")
    result = aggregate(metric.compute())
    assert result.value is None and result.na_reason
    assert result.extra["skipped_frames"] == 2 and result.extra["scored_frames"] == 0


def test_dlib_csim_same_person_beats_other_person_and_self_is_one():
    frames = _face(CLIP_A)
    same_person_source = _face(CLIP_B, n=1)
    csim = build_metric("csim", "face", backend="dlib")
    aed = build_metric("aed", "face", backend="dlib")
    assert csim.embedder is aed.embedder  # one model shared by CSIM and AED
    per_video = {}
    for name in ("csim", "aed"):
        on_frames = build_metric(name, "face", backend="dlib")  # target: the driving frames
        on_source = build_metric(name, "face", backend="dlib", target="source")
        on_frames.update(frames, frames, video="self")
        on_source.update(frames, same_person_source.expand_as(frames), video="same")
        on_source.update(frames, _other_person().expand_as(frames), video="other")
        per_video[name] = {**aggregate(on_frames.compute()).per_video, **aggregate(on_source.compute()).per_video}
    c, a = per_video["csim"], per_video["aed"]
    assert c["self"] == pytest.approx(1.0, abs=1e-9) and a["self"] == pytest.approx(0.0, abs=1e-6)
    assert c["same"] > c["other"] + 0.05
    assert a["same"] < a["other"]
    # unit-norm embeddings: AED (cmp.py's squared distance) = 2 - 2 CSIM frame by frame, so also on average
    assert a["other"] == pytest.approx(2 - 2 * c["other"], abs=1e-9)


@pytest.mark.parametrize("name", ["akd", "csim", "aed"])
@pytest.mark.parametrize("domain", ["robot", "cartoon", "synthetic", None])
def test_semantic_metrics_are_na_outside_face_and_body(name, domain):
    ok, reason = applicable(name, domain)
    assert not ok and reason
    result = aggregate(build_metric(name, domain).compute())
    assert result.value is None and result.na_reason == reason


def test_pixel_metrics_apply_everywhere_and_bad_names_are_user_errors():
    from bench.errors import UserError

    assert applicable("lpips", "cartoon") == (True, "")
    with pytest.raises(UserError, match="unknown domain"):
        applicable("l1", "planet")
    with pytest.raises(UserError, match="unknown metric"):
        build_metric("nope")
    with pytest.raises(UserError, match="no backend 'dlib' for body data"):
        build_metric("akd", "body", backend="dlib")
