"""Every bad input or expected fault is one line on stderr and exit code 2 (never a traceback), and
nothing already finished is lost: a parametrised suite of what a hostile new user tries."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from bench.cli import main
from tests.run_support import numbers

RUN = ["run", "--method", "copy-source", "--dataset", "synthetic", "--task", "reconstruction", "--metrics", "l1",
       "--max-videos", "2", "--refs", "0", "--no-track"]


def _file(tmp: Path, name: str = "taken", text: str = "x") -> Path:
    (tmp / name).write_text(text)
    return tmp / name


def _sweep(tmp: Path, body: str) -> list[str]:
    (tmp / "sweep.yaml").write_text(body)
    return ["sweep", str(tmp / "sweep.yaml"), "--dry-run"]


def _baseline(tmp: Path, body: str) -> list[str]:
    (tmp / "baseline.yaml").write_text(body)
    return ["check", "--baseline", str(tmp / "baseline.yaml")]


def _corrupt_store(tmp: Path, verb: list[str]) -> list[str]:
    (tmp / "mlflow.db").write_bytes(os.urandom(4096))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"  # restored by conftest's monkeypatch
    return verb


CASES = {
    "run --out is a file": (lambda t: RUN + ["--out", str(_file(t))], "output folder"),
    "evaluate --out is a file": (lambda t: ["evaluate", "--real", str(t), "--generated", str(t), "--metrics", "l1",
                                            "--out", str(_file(t))], "folder"),
    "report --out is a file": (lambda t: ["report", "table1", "--reported-only", "--out", str(_file(t))], "taken"),
    "check --update without runs": (lambda t: ["check", "--baseline", str(t / "b.yaml"), "--update"],
                                     "no complete evaluation runs"),
    "unknown device": (lambda t: RUN + ["--device", "tpu"], "unknown device 'tpu'"),
    "sweep memory format unknown": (lambda t: _sweep(t, "methods: [copy-source]\ndatasets: [synthetic]\n"
                                                        "memory_format: nhwc\n"), "unknown --memory-format 'nhwc'"),
    "sweep refs is text": (lambda t: _sweep(t, "methods: [copy-source]\ndatasets: [synthetic]\nrefs: three\n"),
                           "config key 'refs': expected"),
    "sweep methods nested": (lambda t: _sweep(t, "methods: [[copy-source]]\ndatasets: [synthetic]\n"),
                             "'methods' must be a name or a list of names"),
    "baseline metric is text": (lambda t: _baseline(t, "runs:\n  - {method: a, dataset: b, task: c, variant: d, "
                                                       "metrics: {l1: low}}\n"), "'l1' must be a finite number"),
    "baseline runs is a mapping": (lambda t: _baseline(t, "runs: {a: 1}\n"), "'runs' must be a list"),
    "baseline runs are strings": (lambda t: _baseline(t, "runs: [a, b]\n"), "runs[0]: expected a mapping"),
    "pairs CSV of random bytes": (lambda t: ["run", "--method", "copy-source", "--dataset", "synthetic", "--task",
                                             "animation", "--no-track", "--pairs",
                                             str(_file(t, "pairs.csv", "")), "--out", str(t / "o")], "pairs file"),
    "missing pairs CSV, no --out": (lambda t: ["run", "--method", "copy-source", "--dataset", "synthetic", "--task",
                                               "animation", "--no-track", "--pairs", str(t / "nope.csv")],
                                    "pairs file not found"),
    "corrupt store: report runs": (lambda t: _corrupt_store(t, ["report", "runs"]), "tracking store"),
    "corrupt store: check": (lambda t: _corrupt_store(t, ["check", "--baseline", "configs/baselines/ci.yaml"]),
                             "tracking store"),
    "methods list of an unknown dataset": (lambda t: ["methods", "list", "--dataset", "imagenet"],
                                           "unknown dataset 'imagenet'"),
    "empty selection": (lambda t: RUN[:-5] + ["--max-videos", "0", "--out", str(t / "o")], "--max-videos must be >= 1"),
    # issue 26: the last tracebacks
    "evaluate --sources row without source": (lambda t: _evaluate_sources(t, "generated,source_image\na.mp4,\n"),
                                              "line 2 lacks its generated video or its source image"),
    "evaluate --sources not UTF-8": (lambda t: _evaluate_sources(t, b"\xff\xfe\x00gen\x81\x82"),
                                     "not a UTF-8 CSV file"),
    "run a FOMM config that cannot be built": (lambda t: ["run", "--method", "fomm", "--dataset", "synthetic",
                                                          "--random-init", "--set", "common_params.num_kp=-3",
                                                          "--no-track", "--out", str(t / "o")],
                                               "method 'fomm' cannot be built from its config"),
    "perf eval of a huge generated set": (lambda t: ["perf", "eval", "--size", "100000"], "--size must be in [16, 1024]"),
    # the promise kept for what came after issue 26: new methods, training cells, executors, a tracking server
    "run a LIA config that cannot be built": (lambda t: ["run", "--method", "lia", "--dataset", "synthetic",
                                                         "--random-init", "--set", "latent_dim_motion=0", "--no-track",
                                                         "--out", str(t / "o")], "config key 'latent_dim_motion'"),
    "LIA official checkpoint that is not one": (lambda t: ["run", "--method", "lia", "--dataset", "synthetic",
                                                           "--official", "--checkpoint", str(_file(t, "lia.pt")),
                                                           "--no-track", "--out", str(t / "o")],
                                                "not a PyTorch checkpoint"),
    "LivePortrait folder missing": (lambda t: ["run", "--method", "liveportrait", "--dataset", "synthetic",
                                               "--official", "--checkpoint", str(t / "nope"), "--no-track"],
                                    "checkpoint not found"),
    "train LivePortrait": (lambda t: ["train", "--method", "liveportrait", "--dataset", "synthetic",
                                      "--out", str(t / "o")], "evaluation-only"),
    "sweep train section with a typo": (lambda t: _sweep(t, "methods: [fomm]\ndatasets: [synthetic]\n"
                                                            "train: {epoch: 1}\n"), "train: unknown key 'epoch'"),
    "sweep variant escaping runs/": (lambda t: _sweep(t, "methods: [copy-source]\ndatasets: [synthetic]\n"
                                                         "variants: [{name: ../../x}]\n"), "variant name"),
    "sweep resources of the wrong type": (lambda t: _sweep(t, "methods: [fomm]\ndatasets: [synthetic]\n"
                                                              "resources: {time_min: soon}\n"),
                                          "'resources.time_min': expected an integer"),
    "tracking server that does not answer": (lambda t: _server_down(RUN + ["--out", str(t / "o")]),
                                             "cannot be reached"),
}


def _server_down(verb: list[str]) -> list[str]:
    os.environ["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:9"  # discard port; restored by the test's monkeypatch
    return [arg for arg in verb if arg != "--no-track"]


def _evaluate_sources(tmp: Path, content: str | bytes) -> list[str]:
    from tests.run_support import synthetic_videos

    sources = tmp / "sources.csv"
    sources.write_bytes(content if isinstance(content, bytes) else content.encode())
    folder = str(synthetic_videos(1)[0].path.parent)
    return ["evaluate", "--real", folder, "--generated", folder, "--sources", str(sources), "--out", str(tmp / "o")]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, capsys, monkeypatch):
    build, expected = CASES[case]
    if case == "pairs CSV of random bytes":
        (tmp_path / "pairs.csv").write_bytes(os.urandom(2048))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", os.environ["MLFLOW_TRACKING_URI"])  # undo _corrupt_store after
    assert main(build(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bench: error: "), err
    if expected:
        assert expected in err[0]


def test_cuda_without_cuda_is_one_line(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(RUN + ["--device", "cuda"]) == 2
    assert "CUDA is not available on this machine" in capsys.readouterr().err


def test_damaged_state_files_are_reported_and_recomputed(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(RUN + ["--out", str(out)]) == 0
    expected = numbers(out)
    records = sorted((out / "state").glob("*.pt"))
    planted = records[0]

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))
    torch.save({"x": Boom()}, planted)  # a pickle that would run code
    records[1].write_bytes(records[1].read_bytes()[:50])  # a truncated record
    (out / "state" / "settings.json").write_text('{"run_key": ')  # a truncated marker
    capsys.readouterr()
    assert main(RUN + ["--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "unreadable" in err and "recomputing" in err and not (tmp_path / "pwned").exists()
    assert numbers(out) == expected


def test_a_failed_write_loses_nothing_finished(tmp_path, capsys, full_disk):
    out = tmp_path / "run"
    assert main(RUN + ["--out", str(out)]) == 0
    second = sorted((out / "state").glob("*.pt"))[1]
    second.unlink()  # as if the run had been killed while computing the second video
    finished = {p.name: p.read_bytes() for p in (out / "state").glob("*.pt")}
    full_disk()
    assert main(RUN + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write" in err[0] and "file write failed" in err[0]
    assert {p.name: p.read_bytes() for p in (out / "state").glob("*.pt")} == finished  # no partial file either
    assert not list((out / "state").glob(".*"))


def test_unreadable_video_folder_is_listed_by_verify(tmp_path, monkeypatch, capsys):
    from bench.datasets import get_dataset, resolve_root

    root = resolve_root(get_dataset("synthetic"))
    locked = sorted((root / "test").iterdir())[0]
    real_iterdir = Path.iterdir

    def iterdir(self):
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_iterdir(self)
    monkeypatch.setattr(Path, "iterdir", iterdir)  # root reads everything: simulate another user's folder
    assert main(["datasets", "verify", "--dataset", "synthetic", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"{locked}: unreadable: cannot list frame folder {locked}: Permission denied" in out


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; this case needs another user")
def test_read_only_output_folder_is_one_line(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    assert main(RUN + ["--out", str(folder / "x")]) == 2
    assert "cannot create output folder" in capsys.readouterr().err


def test_the_synthetic_cache_is_readable_by_others(tmp_path, monkeypatch):
    from bench.datasets.synthetic import ensure_synthetic

    root = ensure_synthetic(tmp_path / "synthetic", test_videos=2, train_videos=2)
    assert root.stat().st_mode & 0o055 == 0o055 & ~_umask()  # group/other read+execute unless the umask says no
    json.loads((root / "meta.json").read_text())


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
