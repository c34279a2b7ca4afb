"""Names that become parts of paths (video, person, variant, dataset, method, experiment names) cannot
point outside their folder: a hostile metadata CSV, experiment file or option is one line on stderr,
exit code 2, and nothing is written anywhere (checked on the file system)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.distributed import DistContext
from bench.errors import UserError
from bench.files import inside, safe_name
from tests.run_support import tiny_movie

RUN = ["run", "--method", "copy-source", "--dataset", "synthetic", "--task", "reconstruction", "--metrics", "l1",
       "--max-videos", "2", "--refs", "0", "--no-track"]
HEADER = "video_id,start,end,bbox,fps,width,height,partition"


def _prepare(tmp: Path, *rows: str, header: str = HEADER) -> list[str]:
    """``datasets prepare`` of ``rows`` from tmp/work/videos (good.mp4) into tmp/work/out; tmp/outside.mp4
    is a readable video outside --videos."""
    (tmp / "work" / "meta.csv").write_text("\n".join((header, *rows)) + "\n")
    return ["datasets", "prepare", "--metadata", str(tmp / "work" / "meta.csv"), "--videos",
            str(tmp / "work" / "videos"), "--out", str(tmp / "work" / "out"), "--size", "32", "--format", "png"]


def _sweep(tmp: Path, body: str) -> list[str]:
    (tmp / "work" / "sweep.yaml").write_text(body)
    return ["sweep", str(tmp / "work" / "sweep.yaml"), "--dry-run"]


def _detect(tmp: Path) -> list[str]:
    (tmp / "work" / "faces").mkdir()
    tiny_movie(tmp / "work" / "faces" / "a\\b.mp4", 4, 40)  # a backslash: a separator on Windows, a name character here
    return ["datasets", "prepare", "--detect", "face", "--videos", str(tmp / "work" / "faces"),
            "--out", str(tmp / "work" / "out")]


CASES = {
    "prepare: video_id escapes --out": (
        lambda t: _prepare(t, "good#../../escaped,0,2,0-0-64-64,25,64,64,test"), "meta.csv:2: video_id"),
    "prepare: video_id reads outside --videos": (
        lambda t: _prepare(t, "../../outside,0,2,0-0-64-64,25,64,64,test"), "meta.csv:2: video_id"),
    "prepare: person_id escapes --out": (
        lambda t: _prepare(t, "good,0,2,0-0-64-64,25,64,64,test,../../person", header=HEADER + ",person_id"),
        "meta.csv:2: person_id '../../person'"),
    "prepare: person_id is ..": (
        lambda t: _prepare(t, "good,0,2,0-0-64-64,25,64,64,test,..", header=HEADER + ",person_id"),
        "person_id '..'"),
    "prepare: video_id with a backslash": (
        lambda t: _prepare(t, "good,0,2,0-0-64-64,25,64,64,test", "x\\..\\..\\y,0,2,0-0-64-64,25,64,64,test"),
        "meta.csv:3: video_id"),
    "detect: video file name with a separator": (_detect, "video_id 'a\\\\b'"),
    "run: variant escapes runs/": (lambda t: RUN + ["--variant", "../../../../x"], "--variant '../../../../x'"),
    "run: variant is a path": (lambda t: RUN + ["--variant", "a/b"], "--variant 'a/b'"),
    "run: dataset is a path": (lambda t: RUN[:4] + ["../synthetic"] + RUN[5:], "--dataset '../synthetic'"),
    "run: method is a path": (lambda t: ["run", "--method", "../copy-source"] + RUN[3:], "--method '../copy-source'"),
    "sweep: experiment name escapes runs/": (
        lambda t: _sweep(t, "name: ../../escaped\nmethods: [copy-source]\ndatasets: [synthetic]\n"),
        "sweep.yaml: 'name' '../../escaped'"),
    "sweep: experiment name is ..": (
        lambda t: _sweep(t, "name: '..'\nmethods: [copy-source]\ndatasets: [synthetic]\n"), "'name' '..'"),
    "sweep: variant name escapes runs/": (
        lambda t: _sweep(t, "methods: [copy-source]\ndatasets: [synthetic]\nvariants:\n  - name: ../../../x\n"),
        "sweep.yaml: variant name '../../../x'"),
    "sweep: method entry is a path": (
        lambda t: _sweep(t, "methods: [../copy-source]\ndatasets: [synthetic]\n"), "'methods' entry '../copy-source'"),
}


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("case", list(CASES))
def test_a_name_that_leaves_its_folder_is_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    (work / "videos").mkdir(parents=True)
    tiny_movie(work / "videos" / "good.mp4", 4, 40)
    tiny_movie(tmp_path / "outside.mp4", 4, 40)
    monkeypatch.chdir(work)  # runs/ of run and sweep
    args = CASES[case][0](tmp_path)
    before = _tree(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and CASES[case][1] in err[0] and "plain file name" in err[0], err
    assert _tree(tmp_path) == before  # nothing written: not outside, not inside either
    assert not (tmp_path.parent / "escaped").exists() and not list(tmp_path.parent.glob("*person*"))


def test_the_same_layout_prepares_with_plain_names(tmp_path, capsys, monkeypatch):
    """The cases above fail for their names alone: the layout itself prepares (chunks inside --out)."""
    (tmp_path / "work" / "videos").mkdir(parents=True)
    tiny_movie(tmp_path / "work" / "videos" / "good.mp4", 4, 40)
    args = _prepare(tmp_path, "good#a..b,0,2,0-0-64-64,25,64,64,test,p..1", header=HEADER + ",person_id")
    assert main(args) == 0
    assert _tree(tmp_path / "work" / "out") == {"train", "test", "test/p..1#a..b#good#000000#000002.mp4",
                                                "test/p..1#a..b#good#000000#000002.mp4/0000000.png",
                                                "test/p..1#a..b#good#000000#000002.mp4/0000001.png"}


def test_safe_name_and_inside():
    for name in ("vox", "id10001", "a..b", "x#y", "n5-fp64", "..."):
        assert safe_name(name, "name") == name
    for name in ("", ".", "..", "a/b", "/abs", "a\\b", "x\0y"):
        with pytest.raises(UserError, match="^name "):
            safe_name(name, "name")
    assert inside("runs", "runs/a/b", "out") == Path("runs/a/b")
    for outside in ("runs/../x", "/tmp/x", "runs2/a", "runs/a/../../b"):
        with pytest.raises(UserError, match="lies outside runs"):
            inside("runs", outside, "out")


def test_train_default_out_folder_takes_plain_names_only():
    from bench.training.run import DEFAULT_OUT, TrainRequest, _out_dir

    ctx = DistContext(0, 1, 0, torch.device("cpu"))
    assert _out_dir(TrainRequest(), "fomm", "vox", None, ctx).parent == DEFAULT_OUT
    for method, dataset in (("../fomm", "vox"), ("fomm", "../../vox"), ("fomm", "..")):
        with pytest.raises(UserError, match="not a plain file name"):
            _out_dir(TrainRequest(), method, dataset, None, ctx)


def test_prepare_detect_body_offers_allow_download_and_accepts_it(tmp_path, capsys, monkeypatch):
    """Without Keypoint R-CNN weights the message suggests --allow-download, which prepare accepts: it reaches
    the weight lookup (stubbed: no network in tests); without --detect it is refused in one line."""
    from bench import weights

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    (tmp_path / "videos").mkdir()
    tiny_movie(tmp_path / "videos" / "dance.mp4", 4, 40)
    args = ["datasets", "prepare", "--detect", "body", "--videos", str(tmp_path / "videos"),
            "--out", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--allow-download" in err and err.count("\n") == 1
    asked = []

    def resolve(weight, weights_dir=None, allow_download=False):
        asked.append(allow_download)
        raise UserError("stub: no download in tests")

    monkeypatch.setattr(weights, "resolve", resolve)
    assert main([*args, "--allow-download"]) == 2
    assert asked == [True] and "stub: no download" in capsys.readouterr().err
    (tmp_path / "m.csv").write_text(HEADER + "\ndance,0,2,0-0-64-64,25,64,64,test\n")
    assert main(["datasets", "prepare", "--metadata", str(tmp_path / "m.csv"), "--videos", str(tmp_path / "videos"),
                 "--out", str(tmp_path / "out2"), "--allow-download"]) == 2
    err = capsys.readouterr().err
    assert "go with --detect" in err and err.count("\n") == 1
    assert not (tmp_path / "out2").exists() and not (tmp_path / "out").exists()
