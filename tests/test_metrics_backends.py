"""Weight resolution of the face/body backends, and body backends' plumbing with random weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.errors import MissingWeightsError
from bench.metrics import build_metric
from bench import weights


@pytest.fixture
def no_caches(tmp_path, monkeypatch):
    """Empty torch hub cache and insightface folder."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.mark.parametrize("name,domain,filename", [
    ("akd", "face", "2DFAN4-11f355bf06.pth.tar"),
    ("akd", "body", "pose_model.pth"),  # body default: pose-evaluation's OpenPose
    ("akd", "body:keypointrcnn", "keypointrcnn_resnet50_fpn_coco-fc266e95.pth"),
    ("csim", "face", "w600k_r50.onnx"),
    ("aed", "body", "reid_model.pth"),  # body default: pose-evaluation's ReID ResNet-50
    ("aed", "body:osnet", "osnet_x1_0_msmt17.pth"),
])
def test_missing_weights_raise_with_file_and_place(no_caches, name, domain, filename):
    domain, _, backend = domain.partition(":")
    with pytest.raises(MissingWeightsError, match=filename) as info:
        build_metric(name, domain, weights_dir=no_caches / "mine", backend=backend or None)
    assert "mine" in str(info.value)  # the --weights-dir is named as a place to put it


def test_weights_dir_is_searched_before_the_caches(no_caches):
    (no_caches / "mine" / "buffalo_l").mkdir(parents=True)
    (no_caches / "mine" / "buffalo_l" / "w600k_r50.onnx").write_bytes(b"x")
    (no_caches / "mine" / "s3fd-619a316812.pth").write_bytes(b"x")
    assert weights.find(weights.ARCFACE, no_caches / "mine") == no_caches / "mine" / "buffalo_l" / "w600k_r50.onnx"
    assert weights.find(weights.S3FD, no_caches / "mine") == no_caches / "mine" / "s3fd-619a316812.pth"
    assert weights.find(weights.S3FD) is None
    assert weights.find(weights.DLIB_LANDMARKS_68) is not None  # shipped by face-recognition-models


def test_osnet_embedder_random_weights_gives_unit_embeddings_per_frame():
    from bench.metrics.embeddings import OSNetEmbedder

    torch.manual_seed(0)
    embedder = OSNetEmbedder(pretrained=False)
    images = np.random.default_rng(0).integers(0, 256, size=(2, 64, 48, 3), dtype=np.uint8)
    out = embedder(images)
    assert len(out) == 2 and all(e.shape == (512,) for e in out)
    assert [np.linalg.norm(e) for e in out] == pytest.approx([1.0, 1.0])
    assert not np.allclose(out[0], out[1])


@pytest.mark.slow
def test_keypoint_rcnn_random_weights_returns_17_points_or_none():
    from bench.metrics.keypoints import KeypointRCNN

    torch.manual_seed(0)
    detector = KeypointRCNN(pretrained=False, person_threshold=0.0)
    images = np.random.default_rng(0).integers(0, 256, size=(2, 96, 96, 3), dtype=np.uint8)
    for detection in detector(images):
        assert detection is None or (detection[0].shape == (17, 2) and detection[1].shape == (17,))
