"""`verify` finds every problem of a tree; `bench datasets ...` exit codes and output."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.cli import main
from bench.datasets import get_dataset
from bench.datasets.sampling import read_pairs_csv
from bench.datasets.spec import DatasetSpec
from bench.datasets.verify import verify


@pytest.fixture
def face_tree(shared_dir, tmp_path) -> Path:
    """A face dataset: the two real mp4 clips in test/ and train/."""
    root = tmp_path / "face"
    for split in ("train", "test"):
        shutil.copytree(shared_dir / "data" / "real" / "face" / "test", root / split)
    return root


def _spec(counts: int = 2) -> DatasetSpec:
    """The vox spec with the split counts of the small test trees."""
    vox = get_dataset("vox")
    return DatasetSpec(**{**vox.__dict__, "test_count": counts, "train_count": counts})


def test_clean_tree_has_no_problems(face_tree):
    assert verify(_spec(), face_tree) == []


def test_truncated_mp4_and_empty_folder_reported_together(face_tree):
    clip = face_tree / "test" / "tpsdemo#000000#000039.mp4"
    clip.write_bytes(clip.read_bytes()[:100_000])
    (face_tree / "train" / "empty#000").mkdir()
    problems = verify(_spec(), face_tree)
    by_kind = {(p.kind, Path(p.path).name) for p in problems}
    assert ("unreadable", clip.name) in by_kind
    assert ("empty", "empty#000") in by_kind
    assert ("split-count", "train") in by_kind  # three entries where two are expected
    assert len(problems) == 3


def test_sizes_lengths_counts_and_missing_split(tmp_path):
    root = tmp_path / "body"
    (root / "test").mkdir(parents=True)
    small = root / "test" / "a#1"
    small.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((128, 128, 3), np.uint8)).save(small / f"{i:07d}.png")
    mixed = root / "test" / "b#1"
    mixed.mkdir()
    for i, side in enumerate((256, 256, 200, 256, 256)):
        Image.fromarray(np.zeros((side, side, 3), np.uint8)).save(mixed / f"{i:07d}.png")
    (root / "test" / "readme.txt").write_text("notes")
    kinds = sorted((p.kind, Path(p.path).name) for p in verify(get_dataset("taichi"), root))
    assert kinds == [("frame-size", "a#1"), ("missing-split", "train"), ("mixed-size", "b#1"),
                     ("not-a-video", "readme.txt"), ("split-count", "test"), ("too-short", "a#1")]
    assert not any(p.kind == "too-short" for p in verify(get_dataset("taichi"), root, min_frames=3))


def test_cli_list(capsys):
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("vox", "dfdc", "nemo", "fashion", "aist", "taichi", "bair", "mgif", "synthetic"):
        assert f"\n{name} " in out
    assert "18314" in out and "1807" in out


def test_cli_verify_exit_codes(face_tree, capsys):
    assert main(["datasets", "verify", "--dataset", "synthetic"]) == 0
    assert main(["datasets", "verify", "--dataset", "vox", "--root", str(face_tree)]) == 1
    out = capsys.readouterr().out
    assert "split-count" in out and "507" in out


@pytest.mark.parametrize("argv, message", [
    (["datasets", "verify", "--dataset", "nope", "--root", "."], "unknown dataset 'nope'"),
    (["datasets", "verify", "--dataset", "vox", "--root", "/no/such/root"], "dataset root not found"),
    (["datasets", "pairs", "--dataset", "taichi"], "pass --root"),
])
def test_cli_user_errors_are_one_line_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_pairs_writes_fomm_csv(tmp_path, capsys):
    out = tmp_path / "pairs.csv"
    assert main(["datasets", "pairs", "--dataset", "synthetic", "--n", "12", "--seed", "4", "--out", str(out)]) == 0
    pairs = read_pairs_csv(out)
    spec = get_dataset("synthetic")
    assert len(pairs) == 12 and all(spec.identity_of(p.source) != spec.identity_of(p.driving) for p in pairs)
    capsys.readouterr()
    assert main(["datasets", "pairs", "--dataset", "synthetic", "--n", "12", "--seed", "4"]) == 0
    assert capsys.readouterr().out == out.read_text()


def test_cli_synth_prints_root(tmp_path, capsys):
    assert main(["datasets", "synth", "--root", str(tmp_path / "syn"), "--seed", "2"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "syn")
    assert (tmp_path / "syn" / "meta.json").is_file()
