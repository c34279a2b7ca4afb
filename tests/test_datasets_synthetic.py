"""The synthetic dataset: determinism, layout, keypoints and caching."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from bench.datasets import get_dataset, resolve_root
from bench.datasets.synthetic import KEYPOINT_NAMES, ensure_synthetic
from bench.datasets.verify import verify
from bench.datasets.video_io import list_videos, read_video
from bench.errors import DataError

SMALL = dict(identities=3, train_videos=4, test_videos=3, min_frames=6, max_frames=8)


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(tmp_path):
    first = ensure_synthetic(tmp_path / "a", seed=7, **SMALL)
    second = ensure_synthetic(tmp_path / "b", seed=7, **SMALL)
    other = ensure_synthetic(tmp_path / "c", seed=8, **SMALL)
    digest = _tree_digest(first)
    assert len(digest) > 40 and digest == _tree_digest(second)
    assert digest != _tree_digest(other)


def test_default_set_layout_keypoints_and_verify():
    spec = get_dataset("synthetic")
    root = resolve_root(spec)  # generated into the (test) cache on first use
    assert verify(spec, root) == []
    train, test = list_videos(root, "train", spec), list_videos(root, "test", spec)
    assert (len(train), len(test)) == (spec.train_count, spec.test_count)
    assert len({v.identity for v in train}) >= 6 and len({v.identity for v in test}) >= 2
    assert not {v.name for v in train} & {v.name for v in test}
    video = test[0]
    frames = read_video(video.path)
    keypoints = np.load(video.path / "keypoints.npy")
    assert keypoints.shape == (frames.shape[0], len(KEYPOINT_NAMES), 2) and keypoints.dtype == np.float32
    assert frames.shape[1:] == (64, 64, 3) and 24 <= frames.shape[0] <= 32
    assert (keypoints >= 0).all() and (keypoints <= 63).all()
    # the figure moves: keypoints change from frame to frame, and smoothly (no jumps)
    steps = np.linalg.norm(np.diff(keypoints, axis=0), axis=-1)
    assert steps.max() > 0.2 and steps.max() < 6
    assert resolve_root(spec) == root  # cached: the second call reuses the folder


def test_keypoints_lie_on_the_drawn_figure():
    spec = get_dataset("synthetic")
    root = resolve_root(spec)
    video = list_videos(root, "train", spec)[0]
    frames = read_video(video.path).astype(int)
    keypoints = np.load(video.path / "keypoints.npy")
    corner = frames[:, :2, :2].reshape(len(frames), -1, 3).mean(1)  # background sample
    for t in (0, len(frames) // 2, len(frames) - 1):
        hand = np.round(keypoints[t, KEYPOINT_NAMES.index("hand")]).astype(int)
        elbow = np.round(keypoints[t, KEYPOINT_NAMES.index("elbow")]).astype(int)
        for x, y in (hand, elbow):
            # pixel at the keypoint has the arm's colour, not the background's
            assert np.abs(frames[t, y, x] - corner[t]).sum() > 30


def test_existing_foreign_root_is_refused(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file.txt").write_text("x")
    with pytest.raises(DataError, match="not a synthetic dataset"):
        ensure_synthetic(tmp_path / "junk", **SMALL)
    made = ensure_synthetic(tmp_path / "made", seed=1, **SMALL)
    with pytest.raises(DataError, match="not a synthetic dataset"):
        ensure_synthetic(made, seed=2, **SMALL)


def test_interrupted_generation_leaves_no_dataset(tmp_path, monkeypatch):
    import bench.datasets.synthetic as synthetic

    def boom(folder, params, identity, clip):
        if clip == 2:
            raise KeyboardInterrupt
        original(folder, params, identity, clip)

    original = synthetic._write_clip
    monkeypatch.setattr(synthetic, "_write_clip", boom)
    with pytest.raises(KeyboardInterrupt):
        ensure_synthetic(tmp_path / "set", **SMALL)
    assert list(tmp_path.iterdir()) == []  # neither the target nor the temporary folder remains
    monkeypatch.setattr(synthetic, "_write_clip", original)
    assert (ensure_synthetic(tmp_path / "set", **SMALL) / "meta.json").is_file()
