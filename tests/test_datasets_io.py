"""Readers of the FOMM on-disk formats, on the real clips of ../shared/data/real."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from bench.datasets import get_dataset, resolve_root
from bench.datasets.video_io import iter_frames, list_videos, num_frames, read_frames, read_video, to_tensor
from bench.errors import DataError


@pytest.fixture
def real(shared_dir):
    return shared_dir / "data" / "real"


def test_face_mp4_clips_have_40_frames_of_256(real):
    videos = list_videos(real / "face", "test", get_dataset("vox"))
    assert [v.name for v in videos] == ["tpsdemo#000000#000039.mp4", "tpsdemo#000080#000119.mp4"]
    assert {v.identity for v in videos} == {"tpsdemo"}
    for video in videos:
        frames = read_video(video.path)
        assert frames.shape == (40, 256, 256, 3) and frames.dtype == np.uint8
        assert num_frames(video.path) == 40
        # a talking head moves: consecutive frames are not all identical
        assert np.abs(frames[1:].astype(int) - frames[:-1]).mean() > 0.1


def test_body_frame_folders_have_24_frames_in_name_order(real):
    videos = list_videos(real / "body", "test", get_dataset("taichi"))
    assert len(videos) == 2 and {v.identity for v in videos} == {"teddemo"}
    folder = videos[0].path
    frames = read_video(folder)
    assert frames.shape == (24, 256, 256, 3)
    # frame i is the file 000000i.png, whatever the directory order
    assert np.array_equal(frames[5], np.asarray(Image.open(folder / "0000005.png").convert("RGB")))
    assert num_frames(folder) == 24


def test_cartoon_gif_frames(real):
    gif = real / "cartoon" / "test" / "horse-teaser.gif"
    frames = read_video(gif)
    # The shared README says 10 frames; the file holds 9 (PIL and FFmpeg agree).
    with Image.open(gif) as image:
        assert frames.shape == (image.n_frames, 256, 256, 3)
    assert num_frames(gif) == frames.shape[0] >= 9


def test_strip_png_decodes_to_the_concatenated_frames(real, tmp_path):
    frames = read_video(real / "body" / "test" / "teddemo#000000#000023")[:6]
    strip = tmp_path / "clip.png"
    Image.fromarray(np.concatenate(list(frames), axis=1)).save(strip)
    decoded = read_video(strip)
    assert decoded.shape == (6, 256, 256, 3)
    assert np.array_equal(decoded, frames)
    assert num_frames(strip) == 6


def test_strip_with_non_square_frames_is_a_data_error(tmp_path):
    Image.new("RGB", (100, 64)).save(tmp_path / "bad.png")
    with pytest.raises(DataError, match="bad.png"):
        read_video(tmp_path / "bad.png")


def test_resize_on_load_is_antialiased(real, tmp_path):
    clip = real / "face" / "test" / "tpsdemo#000000#000039.mp4"
    small = next(iter_frames(clip, size=64))
    assert small.shape == (64, 64, 3)
    assert next(iter_frames(clip, size=(32, 48))).shape == (32, 48, 3)
    # a one-pixel checkerboard shrunk 4x averages to grey with antialiasing (nearest would give 0/255)
    checker = (np.indices((64, 64)).sum(0) % 2 * 255).astype(np.uint8)
    Image.fromarray(np.repeat(checker[..., None], 3, axis=2)).save(tmp_path / "checker.png")
    grey = next(iter_frames(tmp_path / "checker.png", size=16)).astype(int)
    assert np.abs(grey[2:-2, 2:-2] - 127.5).max() < 8


def test_read_frames_selects_indices_in_order(real):
    for video in (real / "face" / "test" / "tpsdemo#000000#000039.mp4", real / "body" / "test" / "teddemo#000060#000083"):
        everything = read_video(video)
        picked = read_frames(video, [7, 2, 7, 0])
        assert np.array_equal(picked, everything[[7, 2, 7, 0]])
        with pytest.raises(DataError, match="out of range"):
            read_frames(video, [len(everything)])


def test_to_tensor_layout_and_range(real):
    frames = read_video(real / "cartoon" / "test" / "horse-teaser.gif")
    tensor = to_tensor(frames)
    assert tensor.shape == (frames.shape[0], 3, 256, 256) and tensor.dtype == torch.float32
    assert tensor.min() >= 0 and tensor.max() <= 1
    assert torch.equal(tensor[3, 1] * 255, torch.from_numpy(frames[3, ..., 1]).float())


def test_missing_root_and_unknown_format_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="dataset root not found"):
        list_videos(tmp_path / "nowhere", "test", get_dataset("vox"))
    with pytest.raises(DataError, match="dataset root not found"):
        resolve_root(get_dataset("vox"), tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="unknown video format"):
        read_video(tmp_path / "notes.txt")


def test_corrupt_mp4_names_the_file(real, tmp_path):
    data = (real / "face" / "test" / "tpsdemo#000000#000039.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.mp4") as info:
        read_video(cut)
    assert "\n" not in str(info.value)
