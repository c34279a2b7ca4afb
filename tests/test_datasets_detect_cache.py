"""``prepare --detect`` resumes from its cache without building a detector, and a source whose frame rate is
unknown is refused before the detector sees a frame."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from bench.datasets import detect_crop as dc
from bench.datasets import sources
from bench.datasets.detectors import DetectorFactory, PersonDetections
from bench.datasets.tracking import BodyParams
from bench.errors import DataError, MissingWeightsError
from tests.run_support import tiny_movie


class Nobody:
    """A person detector that finds no one and counts its calls."""

    name = "nobody"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, image: np.ndarray) -> PersonDetections:
        self.calls += 1
        return PersonDetections(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 17)))


def test_a_fully_cached_resume_builds_no_detector(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # no Keypoint R-CNN weights
    (tmp_path / "videos").mkdir()
    for name in ("a", "b"):
        tiny_movie(tmp_path / "videos" / f"{name}.mp4")
    kwargs = dict(mode="body", params=BodyParams(minimal_video_size=32), cache_dir=tmp_path / "cache",
                  echo=lambda line: None)
    with pytest.raises(MissingWeightsError):  # nothing cached: the default detector is checked first
        dc.detect_metadata(tmp_path / "videos", tmp_path / "m.csv", **kwargs)
    built = []
    with monkeypatch.context() as patch:  # a first run with a stand-in under the default detector's name
        patch.setattr(DetectorFactory, "check", lambda self: None)
        patch.setattr(DetectorFactory, "__call__", lambda self: built.append(Nobody()) or built[-1])
        first = dc.detect_metadata(tmp_path / "videos", tmp_path / "m.csv", **kwargs)
    assert (first.videos, first.cached, len(built)) == (2, 0, 1) and built[0].calls == 6
    again = dc.detect_metadata(tmp_path / "videos", tmp_path / "m2.csv", **kwargs)  # would need the weights
    assert (again.videos, again.cached, again.chunks) == (2, 2, 0)
    assert (tmp_path / "m2.csv").read_text() == (tmp_path / "m.csv").read_text()


def test_unknown_frame_rate_is_refused_before_detection(tmp_path, monkeypatch):
    tiny_movie(tmp_path / "clip.mp4")
    detector = Nobody()
    monkeypatch.setattr(sources, "imageio_fps", lambda rate: 0.0)
    with pytest.raises(DataError, match="unknown frame rate of .*clip.mp4"):
        dc.detect_video(tmp_path / "clip.mp4", "body", detector, BodyParams(minimal_video_size=32), "test")
    assert detector.calls == 0


def test_frames_without_persons_track_nothing():
    """Keypoint R-CNN finds no one: keypoint scores of shape (0, 17) (this raised a ValueError in the reshape)."""
    from bench.datasets.tracking import track_bodies

    detector = Nobody()
    assert track_bodies([np.zeros((64, 64, 3), np.uint8)] * 3, detector, BodyParams(minimal_video_size=32)) == []
    assert detector.calls == 3
