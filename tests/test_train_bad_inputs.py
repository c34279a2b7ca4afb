"""`bench train`: invalid values that pass the type check, unusable outputs and a full disk are one line
(exit 2), before any compute where they can be known before it."""
from __future__ import annotations

import pytest

from bench.cli import main

TRAIN = ["train", "--method", "fomm", "--dataset", "synthetic", "--device", "cpu", "--epochs", "1",
         "--set", "train.num_repeats=1", "--set", "train.batch_size=2"]


@pytest.mark.parametrize("setting,expected", [
    ("train.lr=-1", "config key 'train.lr' must be positive"),
    ("train.betas=[2,3]", "config key 'train.betas' needs two values in [0, 1)"),
    ("train.frame_size=0", "config key 'train.frame_size' must be a positive size or null"),
    ("train.gamma=0", "config key 'train.gamma' must be positive"),
    ("model.common_params.num_kp=-3", "method 'fomm' cannot be built from its config"),
])
def test_invalid_values_are_one_line(setting, expected, tmp_path, capsys):
    assert main(TRAIN + ["--out", str(tmp_path / "o"), "--set", setting]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err


@pytest.mark.parametrize("setting,expected", [
    ("model.common_params.num_channels=1", "method 'tpsmm' cannot run on 3-channel frames of 64x64 with its config"),
    ("model.generator_params.block_expansion=0", "method 'tpsmm' cannot "),
])
def test_a_model_config_that_cannot_run_is_one_line_before_any_data(setting, expected, tmp_path, capsys, monkeypatch):
    """Configs whose model builds but cannot run (issue 26: a RuntimeError on the first step): the model is probed on
    blank frames right after it is built, before the training pairs are read."""
    import bench.training.run as training

    def no_data(*args, **kwargs):
        raise AssertionError("the training data was read")
    monkeypatch.setattr(training, "_dataset", no_data)
    args = ["train", "--method", "tpsmm", "--dataset", "synthetic", "--device", "cpu", "--epochs", "1", "--set", setting]
    assert main(args + ["--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err


def test_output_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    assert main(TRAIN + ["--out", str(tmp_path / "taken")]) == 2
    assert capsys.readouterr().err.strip() == f"bench: error: output folder {tmp_path / 'taken'} is an existing file"


def test_a_full_disk_while_saving_a_checkpoint_is_one_line(tmp_path, capsys, full_disk):
    full_disk()
    assert main(TRAIN + ["--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("bench: error: cannot write ") and "file write failed" in err[-1]
    assert not list((tmp_path / "o" / "checkpoints").glob(".*"))  # no half-written file left
