"""`bench datasets prepare`: video-preprocessing's load_videos.py chunking / rescaling / resizing /
naming on real frames made into "raw" videos, problems reported one line each, resume, and the
crop_vox.py / crop_taichi.py detection modes."""
from __future__ import annotations

import csv
import os
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.cli import main
from bench.datasets import get_dataset
from bench.datasets import boxes as bx
from bench.datasets import chunks as ch
from bench.datasets import detect_crop as dc
from bench.datasets import detectors as det
from bench.datasets import metadata as md
from bench.datasets import prepare as pr
from bench.datasets import sources as src
from bench.datasets import tracking as trk
from bench.datasets import windows as win
from bench.datasets.spec import DatasetSpec
from bench.datasets.verify import verify
from bench.datasets.video_io import read_frames, read_video
from bench.errors import DataError, MissingWeightsError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FACE_CLIP = SHARED / "data" / "real" / "face" / "test" / "tpsdemo#000000#000039.mp4"

# The raw video of the chunking tests: 16 frames at 50 fps, 224x160, while the metadata says
# 25 fps and 448x320. The original clip (64x64) is pasted at file box (8,16)-(72,80), and a 2x
# nearest-neighbour copy at (88,16)-(216,144).
RAW_FPS, RAW_W, RAW_H, RAW_T = 50, 224, 160, 16
META_HEADER = "video_id,start,end,bbox,fps,width,height,partition,person_id"
ROW_A = "raw1,1,5,16-32-144-160,25,448,320,test,id01"      # file frames 2..9, box (8,16,72,80)
ROW_B = "raw1,3,8,176-32-432-288,25,448,320,test,id01"     # file frames 6..15, box (88,16,216,144)
NAME_A = "id01#raw1#000001#000005.mp4"
NAME_B = "id01#raw1#000003#000008.mp4"


def _shared() -> Path:
    if not FACE_CLIP.is_file():
        pytest.skip(f"shared test material not found at {SHARED}")
    return SHARED


def write_movie(path: Path, frames: list[np.ndarray], rate: int | Fraction, faststart: bool = False) -> None:
    """Lossless RGB H.264 (libx264rgb, CRF 0) so that the raw video holds the pasted pixels exactly."""
    import av

    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"} if faststart else {}) as container:
        stream = container.add_stream("libx264rgb", rate=rate)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "rgb24"
        stream.options = {"crf": "0"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> dict:
    """Original 64x64 clip, the raw canvas frames and a videos/ folder holding raw1.mp4."""
    _shared()
    root = tmp_path_factory.mktemp("raw")
    clip = read_frames(FACE_CLIP, list(range(RAW_T)))
    original = np.stack([np.asarray(Image.fromarray(f).resize((64, 64), Image.Resampling.LANCZOS)) for f in clip])
    background = np.random.default_rng(0).integers(0, 256, (RAW_H, RAW_W, 3), dtype=np.uint8)
    frames = []
    for frame in original:
        canvas = background.copy()
        canvas[16:80, 8:72] = frame
        canvas[16:144, 88:216] = frame.repeat(2, 0).repeat(2, 1)
        frames.append(canvas)
    videos = root / "videos"
    videos.mkdir()
    write_movie(videos / "raw1.mp4", frames, RAW_FPS)
    return {"original": original, "frames": np.stack(frames), "videos": videos, "root": root}


def _csv(path: Path, *rows: str, header: str = META_HEADER) -> Path:
    path.write_text("\n".join((header, *rows)) + "\n")
    return path


def _spec(size: int, test: int, train: int = 0) -> DatasetSpec:
    vox = get_dataset("vox")
    return DatasetSpec(**{**vox.__dict__, "frame_size": (size, size), "test_count": test, "train_count": train})


# ------------------------------------------------------------------------------------- formulas


def test_protocol_steps_name_the_official_code():
    expected = {
        md.chunk_name: "load_videos", win.in_window: "load_videos", win.rescale_bbox: "load_videos",
        win.resize_crop: "load_videos", win.imageio_fps: "load_videos", md.VideoJob: "load_videos",
        md.VideoJob.source_stem.fget: "load_videos", ch.prepare_video: "load_videos",
        bx.bb_iou: "util.py", bx.join: "util.py", bx.one_box_inside_other: "util.py",
        bx.compute_aspect_preserved_bbox: "util.py", bx.compute_increased_bbox: "util.py", bx.crop_bbox: "util.py",
        dc.segment_rows: "util.py", trk.FaceParams: "crop_vox.py", trk.face_box: "crop_vox.py",
        trk.vox_tubes: "crop_vox.py", trk.track_faces: "crop_vox.py", trk.BodyParams: "crop_taichi.py",
        trk.check_full_person: "crop_taichi.py", trk.camera_motion: "crop_taichi.py",
        trk.track_bodies: "crop_taichi.py", det.TorchvisionPersons: "crop_taichi.py",
    }
    for obj, source in expected.items():
        assert source in (obj.__doc__ or ""), obj
    assert "video-preprocessing" in pr.__doc__ and "video-preprocessing" in dc.__doc__


def test_official_window_rescale_naming_and_boxes():
    # load_videos.py: i * ref_fps >= start * fps and i * ref_fps < end * fps (file 29.97, metadata 25)
    frames = [i for i in range(200) if win.in_window(i, 80, 100, 25, 29.97)]
    assert frames == list(range(96, 120))  # 80 * 29.97 / 25 = 95.904 -> 96; 100 * 29.97 / 25 = 119.88 -> 119
    assert (win.first_frame_at(80, 25, 29.97), win.first_frame_at(100, 25, 29.97)) == (96, 120)
    assert win.first_frame_at(3, 30, 29.97) == 3 and win.first_frame_at(10, 1, 50.0) == 500
    # int(left / (ref_width / W)): truncation, not rounding
    assert win.rescale_bbox((624, 48, 1018, 553), 1280, 720, 640, 360) == (312, 24, 509, 276)
    assert win.rescale_bbox((1, 1, 3, 3), 3, 3, 2, 2) == (0, 0, 2, 2)
    assert md.chunk_name("WMh3ye5tBsE", "3657", "3994", "id10005") == "id10005#WMh3ye5tBsE#003657#003994.mp4"
    assert md.chunk_name("vid#id7", "80", "300", None) == "id7#vid#000080#000300.mp4"
    # imageio's fps: ffmpeg prints avg_frame_rate with two decimals unless whole
    assert win.imageio_fps(Fraction(30000, 1001)) == 29.97 and win.imageio_fps(Fraction(25)) == 25.0
    assert win.imageio_fps(Fraction(24000, 1001)) == 23.98 and win.imageio_fps(None) == 0.0
    # util.py boxes, computed by hand from the official formulas
    assert bx.bb_iou((0, 0, 9, 9), (5, 5, 14, 14)) == pytest.approx(25 / 175)
    assert bx.compute_aspect_preserved_bbox((100, 100, 200, 300), 0.1) == (30, 80, 270, 320)
    assert bx.compute_increased_bbox((100, 100, 200, 300), 0.1) == (90, 80, 210, 320)
    assert bx.crop_bbox(64, (720, 1280), (100, 100, 200, 300), min_frames=64, min_size=200) == (30, 80, 270, 320)
    assert bx.crop_bbox(63, (720, 1280), (100, 100, 200, 300), min_frames=64, min_size=200) is None
    assert bx.crop_bbox(64, (720, 1280), (100, 100, 200, 300), min_frames=64, min_size=201) is None
    assert bx.crop_bbox(64, (310, 1280), (100, 100, 200, 300), min_frames=64, min_size=200) is None  # bot 320 > 310


def test_metadata_typing_first_row_and_duplicates(tmp_path):
    path = _csv(tmp_path / "m.csv", "v#p,80,300,1-2-3-4,29.97,640,480,train",
                "v#p,80.5,301,1-2-3-4,25,320,240,test", "v#p,80,300,1-2-3-4,25,640,480,train",
                header="video_id,start,end,bbox,fps,width,height,partition")
    (job,) = md.read_metadata(path)
    assert (job.ref_fps, job.ref_width, job.partition, job.source_stem) == (29.97, 640, "train", "v")
    # pandas types the whole start column as float once one value is: names say 80.0, as the official's
    assert [c.name for c in job.chunks] == ["p#v#0080.0#000300.mp4", "p#v#0080.5#000301.mp4"]
    _csv(tmp_path / "bad.csv", "v,1,2,1-2-3,25,640,480,test", header="video_id,start,end,bbox,fps,width,height,partition")
    with pytest.raises(DataError, match=r"bad.csv:2: bbox '1-2-3'"):
        md.read_metadata(tmp_path / "bad.csv")


def test_fps_matches_imageio(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    frames = [np.zeros((32, 32, 3), np.uint8)] * 2
    for rate in (Fraction(30000, 1001), Fraction(24000, 1001), Fraction(25, 2), 50):
        path = tmp_path / f"r{float(rate):.3f}.mp4"
        write_movie(path, frames, rate)
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        reader.close()
        with src.SourceReader(path) as source:
            assert source.fps == meta["fps"], rate


# ----------------------------------------------------------------------------------- chunking


def test_prepare_png_equals_the_pasted_clip(raw, tmp_path):
    from skimage import img_as_ubyte
    from skimage.transform import resize

    out = tmp_path / "out"
    summary = pr.prepare(_csv(tmp_path / "m.csv", ROW_A, ROW_B), raw["videos"], out, fmt="png", size=64)
    assert summary.ok and summary.written == 2
    original = raw["original"]
    chunk_a = read_video(out / "test" / NAME_A)
    chunk_b = read_video(out / "test" / NAME_B)
    # 50 fps file, 25 fps metadata: ref frames [1, 5) are file frames 2..9, [3, 8) are 6..15
    assert chunk_a.shape == (8, 64, 64, 3) and chunk_b.shape == (10, 64, 64, 3)
    # box A is 64x64 in the file: crop and 64 -> 64 resize are exact, png is lossless
    assert np.array_equal(chunk_a, original[2:10])
    # box B is the 2x copy: the official anti-aliased bilinear downscale, bit for bit ...
    official = [img_as_ubyte(resize(f[16:144, 88:216], (64, 64), anti_aliasing=True)) for f in raw["frames"][6:16]]
    assert np.array_equal(chunk_b, np.stack(official))
    # ... and the original clip within resampling error (Gaussian sigma 0.5 of anti_aliasing)
    error = np.abs(chunk_b.astype(int) - original[6:16])
    assert error.mean() < 1.5 and error.max() <= 24, (error.mean(), error.max())
    assert sorted(p.name for p in (out / "test" / NAME_A).iterdir())[:2] == ["0000000.png", "0000001.png"]
    assert verify(_spec(64, 2), out) == []


def test_prepare_mp4_in_parallel_within_codec_error(raw, tmp_path):
    import av

    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("raw1", "raw2"):
        os.symlink(raw["videos"] / "raw1.mp4", videos / f"{name}.mp4")
    meta = _csv(tmp_path / "m.csv", ROW_A, ROW_B, ROW_A.replace("raw1", "raw2"))
    out = tmp_path / "out"
    summary = pr.prepare(meta, videos, out, fmt="mp4", size=64, workers=2)
    assert summary.ok and summary.written == 3
    original = raw["original"]
    for name, frames in ((NAME_A, original[2:10]), (NAME_B, original[6:16]),
                         (NAME_A.replace("raw1", "raw2"), original[2:10])):
        chunk = read_video(out / "test" / name)
        assert chunk.shape == frames.shape
        error = np.abs(chunk.astype(int) - frames)
        assert error.mean() < 6.0, (name, error.mean())  # yuv420p + CRF 25 on 64x64 frames: measured 3.9-4.3
    with av.open(str(out / "test" / NAME_A)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.average_rate == 10  # imageio.mimsave defaults
    assert verify(_spec(64, 3), out) == []
    assert not [p for p in out.rglob(".*")]


def test_problems_are_one_line_each_and_nothing_written_is_lost(raw, tmp_path, capsys):
    videos = tmp_path / "videos"
    shutil.copytree(raw["videos"], videos)
    (videos / "broken.mp4").write_bytes(b"not a video" * 100)
    # a source that opens (moov first) and breaks after about half of its 20 frames
    noise = np.random.default_rng(1)
    write_movie(videos / "whole.mp4", [noise.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(20)], 25,
                faststart=True)
    data = (videos / "whole.mp4").read_bytes()
    (videos / "cut.mp4").write_bytes(data[: int(len(data) * 0.6)])
    out = tmp_path / "out"
    args = ["datasets", "prepare", "--videos", str(videos), "--out", str(out), "--size", "64", "--format", "png"]
    assert main([*args, "--metadata", str(_csv(tmp_path / "good.csv", ROW_A))]) == 0
    first = out / "test" / NAME_A
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    capsys.readouterr()

    meta = _csv(tmp_path / "all.csv", ROW_A, ROW_B,
                "gone,1,5,16-32-144-160,25,448,320,test,id02",         # missing source
                "raw1,2,6,400-32-500-160,25,448,320,test,id01",        # right edge 250 > 224
                "raw1,20,30,16-32-144-160,25,448,320,test,id01",       # after the last frame
                "raw1,5,5,16-32-144-160,25,448,320,test,id01",         # start == end
                "broken,0,3,0-0-64-64,25,64,64,test,id03",            # not a video
                "cut,0,3,0-0-64-64,25,64,64,test,id04",               # before the break: kept
                "cut,15,20,0-0-64-64,25,64,64,test,id04")             # after the break
    assert main([*args, "--metadata", str(meta)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    problems, summary = lines[:-1], lines[-1]
    assert len(problems) == 6, lines
    text = "\n".join(problems)
    assert "missing source video:" in text and "gone.mp4" in text
    assert "bbox outside the frame: test/id01#raw1#000002#000006.mp4" in text and "224x160" in text
    assert "empty window: test/id01#raw1#000020#000030.mp4" in text
    assert "empty window: test/id01#raw1#000005#000005.mp4" in text
    assert "cannot open source video" in text and "broken.mp4" in text
    assert "corrupt source" in text and "cut.mp4" in text and "id04#cut#000015#000020.mp4" in text
    assert "2 chunk(s) written, 1 already there, 6 not prepared, of 9" in summary
    assert "1 source video(s) missing" in summary
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before
    assert sorted(p.name for p in (out / "test").iterdir()) == sorted(
        [NAME_A, NAME_B, "id04#cut#000000#000003.mp4"])
    assert len(read_video(out / "test" / "id04#cut#000000#000003.mp4")) == 3
    assert not [p for p in out.rglob(".*")]


def test_resume_skips_finished_chunks(raw, tmp_path):
    meta = _csv(tmp_path / "m.csv", ROW_A, ROW_B)
    out = tmp_path / "out"
    assert pr.prepare(meta, raw["videos"], out, fmt="mp4", size=64).written == 2
    kept, redo = out / "test" / NAME_A, out / "test" / NAME_B
    stamp = kept.stat().st_mtime_ns
    redo.unlink()
    stale = out / "test" / f".{NAME_B}.tmp-99999"  # what a killed run leaves
    stale.write_bytes(b"partial")
    again = pr.prepare(meta, raw["videos"], out, fmt="mp4", size=64)
    assert (again.existing, again.written, again.ok) == (1, 1, True)
    assert kept.stat().st_mtime_ns == stamp and redo.is_file() and not stale.exists()
    third = pr.prepare(meta, raw["videos"], out, fmt="mp4", size=64)
    assert (third.existing, third.written) == (2, 0)


def test_cli_user_errors_are_one_line(raw, tmp_path, capsys):
    base = ["datasets", "prepare", "--videos", str(raw["videos"]), "--out", str(tmp_path / "o")]
    cases = [
        ([], "--metadata CSV is required"),
        (["--metadata", str(tmp_path / "none.csv")], "metadata CSV not found"),
        (["--metadata", str(_csv(tmp_path / "c.csv", "x,1", header="video_id,start"))], "missing column(s) end"),
        (["--metadata", str(_csv(tmp_path / "m.csv", ROW_A)), "--size", "0"], "--size must be positive"),
        (["--metadata", str(_csv(tmp_path / "m.csv", ROW_A)), "--size", "255"], "needs even sides"),
        (["--metadata", str(_csv(tmp_path / "m.csv", ROW_A)), "--min-size", "10"], "go with --detect"),
    ]
    for extra, message in cases:
        assert main([*base, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


# ---------------------------------------------------------------------------------- detection


def test_vox_tubes_cut_on_iou_and_length():
    a, b = (100, 100, 200, 200), (300, 100, 400, 200)
    boxes = [a] * 5 + [b] * 4 + [(0, 0, 0, 0)] + [b] * 3
    assert [(s, e, n) for s, e, _, n in trk.vox_tubes(boxes)] == [(0, 5, 5), (5, 9, 4), (9, 10, 1), (10, 13, 3)]
    assert [(s, e) for s, e, _, _ in trk.vox_tubes([a] * 7, max_frames=3)] == [(0, 3), (3, 6), (6, 7)]
    moving = [(100 + k, 100, 200 + k, 200) for k in range(4)]
    assert trk.vox_tubes(moving)[0][2] == (100, 100, 203, 200)  # joined over the tube


class StandInPersons:
    """One full person (head and ankles visible) walking right; a second, partial person after frame 12."""

    name = "stand-in"

    def __call__(self, image: np.ndarray) -> det.PersonDetections:
        k = int(image[0, 0, 0])  # the frame index is written into the pixel
        boxes, scores, kps = [(20 + k, 10, 60 + k, 90)], [0.99], [np.full(17, 5.0)]
        if k >= 12:
            boxes.append((150, 10, 190, 90))
            scores.append(0.99)
            kps.append(np.r_[np.full(15, 5.0), [0.0, 0.0]])  # no ankle: a distractor, never a track
        return det.PersonDetections(np.array(boxes, float), np.array(scores), np.array(kps))


def test_track_bodies_with_stand_in_detector():
    def frames(n: int, cut: int | None = None):
        for i in range(n):
            frame = np.full((96, 256, 3), 100 if cut is None or i < cut else 160, np.uint8)
            frame[0, 0, 0] = i
            yield frame

    params = trk.BodyParams(min_frames=4, min_size=40, minimal_video_size=64)
    tube = bx.compute_aspect_preserved_bbox((20, 10, 60, 90), 0.05)  # the first box, squared and enlarged
    assert tube == (-4, 6, 84, 94)  # touches the border: crop_bbox_from_frames drops it
    assert trk.track_bodies(frames(20), StandInPersons(), params) == []
    params = trk.BodyParams(min_frames=4, min_size=40, minimal_video_size=64, increase=0.0)
    # the intensity jump at frame 8 stores every trajectory (box (0,10,80,90), frames 0..7); the new
    # one's fixed box is (8,10,88,90), which the person (x 20+k..60+k) leaves at frame 29
    segments = trk.track_bodies(frames(30, cut=8), StandInPersons(), params)
    assert [(s.start, s.end) for s in segments] == [(0, 8), (8, 29)]
    assert segments[0].bbox == bx.crop_bbox(8, (96, 256), bx.compute_aspect_preserved_bbox((20, 10, 60, 90), 0.0),
                                             min_frames=4, min_size=40, increase_area=0)
    assert (segments[0].height, segments[0].width) == (96, 256)


def test_body_detector_without_weights_is_one_line(raw, tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(MissingWeightsError, match="keypointrcnn_resnet50_fpn_coco"):
        det.TorchvisionPersons()
    assert main(["datasets", "prepare", "--detect", "body", "--videos", str(raw["videos"]),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "keypointrcnn_resnet50_fpn_coco-fc266e95.pth" in err and err.count("\n") == 1


def test_detect_face_finds_the_pasted_box_and_prepares(tmp_path, capsys):
    pytest.importorskip("dlib")
    _shared()
    clip = read_frames(FACE_CLIP, list(range(10)))
    canvas = np.full((336, 456, 3), 90, np.uint8)
    frames = []
    for frame in clip:
        canvas = canvas.copy()
        canvas[40:296, 100:356] = frame
        frames.append(canvas)
    videos = tmp_path / "videos"
    videos.mkdir()
    write_movie(videos / "talk.mp4", frames, 30)
    detector = det.DlibFaceBoxes()
    (face,) = detector(clip[0])
    expected = (face[0] + 100, face[1] + 40, face[2] + 100, face[3] + 40)
    found = trk.face_box(frames[0], detector, None)  # detected at height 360 (x 1.07): another HOG pyramid level
    assert bx.bb_iou(found, expected) > 0.6, (found, expected)
    centre = np.array([(found[0] + found[2]) / 2, (found[1] + found[3]) / 2])
    assert np.abs(centre - [(expected[0] + expected[2]) / 2, (expected[1] + expected[3]) / 2]).max() < 12

    out = tmp_path / "out"
    assert main(["datasets", "prepare", "--detect", "face", "--videos", str(videos), "--out", str(out),
                 "--min-frames", "8", "--min-size", "100", "--size", "64", "--format", "png"]) == 0
    capsys.readouterr()
    with (out / "metadata.csv").open() as handle:
        (row,) = list(csv.DictReader(handle))
    assert (row["video_id"], row["start"], row["end"], row["fps"], row["width"], row["height"], row["partition"]) \
        == ("talk", "0", "10", "30", "456", "336", "test")
    left, top, right, bot = map(int, row["bbox"].split("-"))
    assert left <= expected[0] and top <= expected[1] and right >= expected[2] and bot >= expected[3]
    assert abs((right - left) - (bot - top)) <= 2  # aspect preserved: square
    side = expected[2] - expected[0]
    assert right - left <= 1.8 * side  # enlarged by increase 0.1 around the tube, not the whole canvas
    chunk = out / "test" / "talk#000000#000010.mp4"
    assert len(read_video(chunk)) == 10
    assert verify(_spec(64, 1), out) == []
    # rerun: detections come from OUT/.detect, the chunk is already there
    assert main(["datasets", "prepare", "--detect", "face", "--videos", str(videos), "--out", str(out),
                 "--min-frames", "8", "--min-size", "100", "--size", "64", "--format", "png"]) == 0
    text = capsys.readouterr().out
    assert "(1 from an earlier run)" in text and "0 chunk(s) written, 1 already there" in text


@pytest.mark.slow
def test_torchvision_person_detector_output(monkeypatch):
    """The Keypoint R-CNN wrapper's plumbing with random weights (the COCO file is not needed)."""
    import torch
    from torchvision.models.detection import keypointrcnn_resnet50_fpn

    from bench import weights

    torch.manual_seed(0)
    state = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None).state_dict()
    monkeypatch.setattr(weights, "resolve", lambda *a, **k: "unused.pth")
    monkeypatch.setattr(torch, "load", lambda *a, **k: state)
    found = det.TorchvisionPersons(confidence_threshold=0.0)(np.zeros((96, 256, 3), np.uint8) + 128)
    n = len(found.boxes)
    assert found.boxes.shape == (n, 4) and found.scores.shape == (n,) and found.keypoint_scores.shape == (n, 17)
    assert trk.track_bodies([np.zeros((96, 256, 3), np.uint8)], lambda image: found,
                           trk.BodyParams(minimal_video_size=64)) == []
