"""build_method(..., official=True): dict and file checkpoints, safe loading, mismatch errors; 'bench methods list'."""
from __future__ import annotations

import pytest
import torch

from bench.cli import main
from bench.errors import UserError
from bench.methods import build_method
from bench.methods.official import CheckpointError
from tests.fomm_mraa_reference import load_fixture
from tests.reference import tolerance


class NotATensor:
    """Something a weights-only load refuses."""


@pytest.fixture
def mraa_fixture(shared_dir):
    return load_fixture("mraa-face")


def test_loads_from_a_dict_and_from_a_file_identically_in_eval_mode(mraa_fixture, tmp_path):
    fx = mraa_fixture
    path = tmp_path / "mraa.pth.tar"
    # an official checkpoint also holds optimizer state and epochs, which are ignored
    torch.save({**fx["state_dict"], "epoch_reconstruction": 3, "optimizer_reconstruction": {"state": {}}}, path)
    from_dict = build_method("mraa", fx["model_params"], fx["state_dict"], official=True)
    from_file = build_method("mraa", fx["model_params"], str(path), official=True)
    assert not from_dict.training and not from_file.training and from_file.name == "mraa"
    with torch.no_grad():
        a = from_dict.generate(fx["inputs"]["source"], fx["inputs"]["driving"])
        b = from_file.generate(fx["inputs"]["source"], fx["inputs"]["driving"])
    assert torch.equal(a, b)
    torch.testing.assert_close(a, fx["outputs"]["prediction"], atol=tolerance("mraa-face", "images"), rtol=0)


def test_pickled_objects_need_trusted(mraa_fixture, tmp_path):
    fx = mraa_fixture
    path = tmp_path / "pickled.pth.tar"
    torch.save({**fx["state_dict"], "extra": NotATensor()}, path)
    with pytest.raises(CheckpointError, match="trusted=True"):
        build_method("mraa", fx["model_params"], path, official=True)
    assert build_method("mraa", fx["model_params"], path, trusted=True, official=True).name == "mraa"


def test_mismatched_checkpoint_is_one_line_naming_keys(shared_dir):
    face, body = load_fixture("fomm-face"), load_fixture("fomm-body")
    with pytest.raises(UserError) as err:  # 4 keypoints in the file, 5 in the config
        build_method("fomm", face["model_params"], body["state_dict"], official=True)
    message = str(err.value)
    assert "\n" not in message and "generator" in message and "dense_motion_network" in message
    renamed = {**face["state_dict"], "kp_detector": {("x" + k): v for k, v in face["state_dict"]["kp_detector"].items()}}
    with pytest.raises(UserError, match="missing predictor.encoder.*unexpected xpredictor"):
        build_method("fomm", face["model_params"], renamed, official=True)
    with pytest.raises(UserError, match="no 'kp_detector'"):
        build_method("fomm", face["model_params"], {"generator": face["state_dict"]["generator"]}, official=True)
    with pytest.raises(UserError, match="not found"):
        build_method("fomm", face["model_params"], "/nonexistent/vox-cpk.pth.tar", official=True)
    with pytest.raises(UserError, match="no official checkpoint format"):
        build_method("sadm", face["model_params"], face["state_dict"], official=True)


def test_corrupt_file_is_a_user_error(tmp_path, shared_dir):
    path = tmp_path / "broken.pth.tar"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read checkpoint"):
        build_method("fomm", load_fixture("fomm-face")["model_params"], path, official=True)


def test_methods_list_counts_parameters_of_the_dataset_preset(capsys):
    assert main(["methods", "list", "--dataset", "synthetic"]) == 0
    out = capsys.readouterr().out
    from bench.methods import build_method
    from bench.methods.presets import load_model_params
    for name in ("fomm", "mraa"):
        count = build_method(name, load_model_params(name, "synthetic")).num_parameters()
        assert f"{count:,}" in out
    assert "animation.mode=None" in out  # MRAA: avd once its AVD network is trained, else relative
    assert "losses.generator_gan=0.0" in out and "animation.adapt_movement_scale=False" in out
    assert main(["methods", "list", "--dataset", "dfdc"]) == 0
    assert "no preset" in capsys.readouterr().out  # FOMM has no DFDC config
