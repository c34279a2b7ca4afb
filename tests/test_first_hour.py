"""A new user's first hour (issue 25): each stumble found on a fresh clone, as a test that fails if it comes back."""
from __future__ import annotations

import pandas as pd
import pytest

from bench.cli import main
from tests.run_support import synthetic_videos


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """No metric weights anywhere (an offline machine)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_evaluate_checks_its_inputs_before_weights_and_writes_nothing(tmp_path, capsys, no_weights):
    generated = synthetic_videos(1)[0].path.parent
    out = tmp_path / "scores"
    assert main(["evaluate", "--real", str(tmp_path / "nowhere"), "--generated", str(generated),
                 "--out", str(out)]) == 2
    assert "real root not found" in _one_line(capsys) and not out.exists()


def test_evaluate_offline_reports_metrics_without_weights_as_na_and_strict_refuses(tmp_path, capsys, no_weights):
    folder = synthetic_videos(1)[0].path.parent
    args = ["evaluate", "--real", str(folder), "--generated", str(folder), "--metrics", "l1,lpips"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "lpips    N/A (" in out and "alexnet-owt-7be5be79.pth" in out and "l1       0.0000" in out
    assert main(args + ["--out", str(tmp_path / "b"), "--strict"]) == 2
    assert "alexnet-owt-7be5be79.pth" in _one_line(capsys) and not (tmp_path / "b").exists()


def test_a_misspelt_backend_is_refused_before_any_compute(capsys):
    assert main(["run", "--method", "copy-source", "--dataset", "synthetic", "--backend", "akd=dlibb",
                 "--no-track"]) == 2
    line = _one_line(capsys)
    assert "metric 'akd' has no backend 'dlibb'" in line and "dlib" in line


def test_demo_on_a_device_this_machine_lacks_fails_before_training(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["demo", "--quick", "--device", "cuda", "--out", str(tmp_path / "demo")]) == 2
    assert "CUDA is not available" in _one_line(capsys) and not (tmp_path / "demo").exists()


def test_the_quick_demos_learning_check_says_what_to_expect():
    from bench.commands.demo import learning_check

    runs = pd.DataFrame({"task": ["reconstruction"] * 2, "method": ["copy-source", "fomm"], "l1": [0.04, 0.13]})
    quick = "\n".join(learning_check(runs, epochs=1))
    assert "NOT below copy-source" in quick and "expected after 1 training epoch" in quick
    assert "expected" not in "\n".join(learning_check(runs, epochs=30))


def test_missing_weights_and_missing_roots_say_where_to_go(capsys, no_weights):
    assert main(["metrics", "list"]) == 0
    out = capsys.readouterr().out
    assert "MISSING pt_inception-2015-12-05-6726825d.pth (put it in " in out
    assert main(["run", "--method", "copy-source", "--dataset", "nemo", "--no-track"]) == 2
    assert "bench datasets prepare" in _one_line(capsys)


def test_an_unknown_set_key_names_the_nearest_valid_ones(capsys):
    assert main(["run", "--method", "fomm", "--dataset", "synthetic", "--random-init", "--set", "num_kp=15",
                 "--no-track"]) == 2
    assert "did you mean 'common_params.num_kp'?" in _one_line(capsys)


def test_a_video_cell_without_per_video_metrics_says_why():
    from bench.reports.grids import no_metrics_reason

    run = pd.Series({"run_id": "x", "fid": 12.5, "na.csim": "CSIM is not defined for synthetic data"})
    reason = no_metrics_reason(run)
    assert "FID is one value for the whole set" in reason and "CSIM N/A: CSIM is not defined" in reason
