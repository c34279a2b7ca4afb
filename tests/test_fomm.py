"""FOMM: official checkpoint layout, official-code fixtures, relative animation, losses."""
from __future__ import annotations

import pytest
import torch
import yaml

from bench.errors import ConfigError
from bench.methods import build_method
from bench.methods.fomm import normalize_kp
from bench.methods.fomm.animation import movement_scale
from bench.methods.fomm.config import fomm_config
from bench.methods.presets import load_model_params
from tests.fomm_mraa_reference import (assert_within_tolerance, load_fixture, load_spec, max_errors, spec_names,
                                       state_shapes_on_meta)
from tests.reference import FIXTURES, tolerance


@pytest.mark.parametrize("stem", spec_names("fomm") or ["fomm-vox-256"])
def test_official_config_builds_exactly_the_checkpoint_keys_and_shapes(shared_dir, stem):
    spec = load_spec(stem)
    got = state_shapes_on_meta("fomm", spec["model_params"])
    assert set(got) == set(spec["state_dict_shapes"])
    for net, expected in spec["state_dict_shapes"].items():
        assert got[net] == expected, f"{stem} {net}: keys/shapes differ"


def test_shipped_presets_equal_the_official_model_params(shared_dir):
    """The official ``model_params``, plus the official ``animate_params`` (``animation``) and adversarial loss
    weights (``losses``): on for bair, fashion, mgif and nemo (as the GAN fixture's bair config), off for vox
    and taichi (as the vox fixture's)."""
    normalization = load_fixture("fomm-animation-face")["animate_params"]["normalization_params"]
    gan_weights = {name: load_fixture(name)["train_params"]["loss_weights"]
                   for name in ("fomm-losses-face", "fomm-losses-gan-body")}
    for stem in spec_names("fomm"):
        dataset = stem.split("-")[1]
        preset = load_model_params("fomm", dataset)
        assert {k: v for k, v in preset.items() if k not in ("animation", "losses")} == \
            load_spec(stem)["model_params"]
        assert preset["animation"] == dict(normalization), dataset
        weights = gan_weights["fomm-losses-gan-body" if dataset in ("bair", "fashion", "mgif", "nemo")
                               else "fomm-losses-face"]
        assert preset["losses"] == {k: weights[k] for k in preset["losses"]}, dataset
        assert set(preset["losses"]) == {"generator_gan", "discriminator_gan", "feature_matching"}


def test_official_yaml_animate_params_become_the_animation_section(tmp_path):
    official = {"model_params": load_model_params("fomm", "synthetic"),
                "animate_params": {"num_pairs": 50, "normalization_params": {
                    "adapt_movement_scale": True, "use_relative_movement": True, "use_relative_jacobian": False}}}
    official["model_params"].pop("animation")
    path = tmp_path / "official.yaml"
    path.write_text(yaml.safe_dump(official))
    params = load_model_params("fomm", path)
    assert params["animation"] == official["animate_params"]["normalization_params"]
    assert fomm_config(params).animation.use_relative_jacobian is False


def test_discriminator_has_the_official_keys_and_only_exists_with_the_adversarial_loss(shared_dir):
    fx = load_fixture("fomm-losses-gan-body")
    with_gan = build_method("fomm", {**fx["model_params"], "losses": {"generator_gan": 1}})
    assert with_gan.adversary() is with_gan.discriminator
    assert with_gan.discriminator.state_dict().keys() == fx["state_dict"]["discriminator"].keys()
    with_gan.discriminator.load_state_dict(fx["state_dict"]["discriminator"])  # shapes too
    assert build_method("fomm", fx["model_params"]).adversary() is None, "generator_gan 0 (default): no GAN"
    with pytest.raises(ConfigError, match="discriminator_params"):
        build_method("fomm", {**load_model_params("fomm", "synthetic"), "losses": {"generator_gan": 1}})
    with pytest.raises(ConfigError, match="feature_matching"):
        build_method("fomm", {**fx["model_params"], "losses": {"generator_gan": 1, "feature_matching": [1]}})


def test_official_checkpoints_with_a_discriminator_entry_load(shared_dir, tmp_path):
    gan = load_fixture("fomm-losses-gan-body")
    path = tmp_path / "bair-cpk.pth.tar"
    torch.save({**gan["state_dict"], "optimizer_discriminator": {"state": {}}, "epoch": 3}, path)
    model = build_method("fomm", gan["model_params"], path, official=True)  # the discriminator entry is ignored
    for net in ("generator", "kp_detector"):
        for key, value in getattr(model, net).state_dict().items():
            assert torch.equal(value, gan["state_dict"][net][key]), key


@pytest.mark.parametrize("name", ["fomm-face", "fomm-body"])
def test_reproduces_the_official_forward_pass(shared_dir, name):
    fx = load_fixture(name)
    model = build_method("fomm", fx["model_params"], fx["state_dict"], official=True)
    with torch.no_grad():
        got = model.forward_details(fx["inputs"]["source"], fx["inputs"]["driving"])
    errors = max_errors(got, fx["outputs"])
    assert set(errors) >= {"kp_source.value", "kp_source.jacobian", "kp_driving.value", "kp_driving.jacobian",
                           "prediction", "occlusion_map", "deformed", "mask"}
    assert_within_tolerance(name, errors)
    torch.testing.assert_close(model.generate(fx["inputs"]["source"], fx["inputs"]["driving"]),
                               fx["outputs"]["prediction"], atol=tolerance(name, "images"), rtol=0)


@pytest.fixture(scope="module")
def face_model():
    if not FIXTURES.is_dir():
        pytest.skip(f"reference fixtures not found at {FIXTURES}")
    fx = load_fixture("fomm-face")
    return build_method("fomm", fx["model_params"], fx["state_dict"], official=True), fx


def test_relative_animation_with_driving_equal_to_initial_keeps_source_keypoints(face_model):
    model, fx = face_model
    source, driving = fx["inputs"]["source"], fx["inputs"]["driving"]
    with torch.no_grad():
        kp_source, kp_driving = model.kp_detector(source), model.kp_detector(driving)
        kp_norm = normalize_kp(kp_source, kp_driving, kp_driving)
        torch.testing.assert_close(kp_norm["value"], kp_source["value"])
        torch.testing.assert_close(kp_norm["jacobian"], kp_source["jacobian"], atol=1e-5, rtol=1e-5)
        # so the animated frame is the source re-rendered through its own keypoints
        animated = model.animate(source, driving, driving)
        expected = model.generator(source, kp_source, kp_source)["prediction"]
    torch.testing.assert_close(animated, expected, atol=1e-5, rtol=0)


def test_relative_movement_is_scaled_by_the_hull_size_ratio():
    kp_initial = torch.tensor([[[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]])
    kp_source = {"value": kp_initial * 2}  # twice as large: area x4, scale x2
    kp_d0 = {"value": kp_initial}
    kp_d = {"value": kp_initial + torch.tensor([0.1, -0.05])}
    assert movement_scale(kp_source["value"], kp_d0["value"]).item() == pytest.approx(2.0)
    out = normalize_kp(kp_source, kp_d, kp_d0, adapt_movement_scale=True)
    torch.testing.assert_close(out["value"], kp_source["value"] + 2 * torch.tensor([0.1, -0.05]))
    fixed = normalize_kp(kp_source, kp_d, kp_d0)  # the official configs' default
    torch.testing.assert_close(fixed["value"], kp_source["value"] + torch.tensor([0.1, -0.05]))
    absolute = normalize_kp(kp_source, kp_d, kp_d0, use_relative_movement=False)
    assert absolute["value"] is kp_d["value"]


def test_relative_jacobian_composes_driving_change_with_source():
    rot = torch.tensor([[0.0, -1.0], [1.0, 0.0]])
    j_s, j_d0 = torch.diag(torch.tensor([2.0, 1.0])), torch.eye(2)
    kp = torch.tensor([[[0.0, 0.0], [0.5, 0.0], [0.0, 0.5]]])
    out = normalize_kp({"value": kp, "jacobian": j_s.expand(1, 3, 2, 2)},
                       {"value": kp, "jacobian": rot.expand(1, 3, 2, 2)},
                       {"value": kp, "jacobian": j_d0.expand(1, 3, 2, 2)})
    torch.testing.assert_close(out["jacobian"], (rot @ j_s).expand(1, 3, 2, 2))


def test_losses_are_finite_and_train_every_network():
    params = load_model_params("fomm", "synthetic")
    model = build_method("fomm", params).train()
    torch.manual_seed(0)
    batch = {"source": torch.rand(2, 3, 64, 64), "driving": torch.rand(2, 3, 64, 64)}
    losses = model.losses(batch)
    assert set(losses) == {"perceptual", "pixel_l1", "equivariance_value", "equivariance_jacobian"}
    assert all(torch.isfinite(v) and v.ndim == 0 for v in losses.values())
    with torch.no_grad():  # the preset's pixel term is its weight x mean |prediction - driving|
        expected = (model.generate(batch["source"], batch["driving"]) - batch["driving"]).abs().mean()
    torch.testing.assert_close(losses["pixel_l1"], params["losses"]["pixel_l1"] * expected)
    sum(losses.values()).backward()
    for net in ("kp_detector", "generator"):
        grads = [p.grad for p in getattr(model, net).parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), net
    # the frozen VGG is not part of the method's parameters or checkpoint
    assert not any(k.startswith("perceptual") or "vgg" in k for k in model.state_dict())


def test_official_configs_have_no_pixel_term():
    for dataset in ("vox", "taichi"):
        assert fomm_config(load_model_params("fomm", dataset)).losses.pixel_l1 == 0.0, dataset


def test_config_errors_name_the_key():
    params = load_model_params("fomm", "synthetic")
    bad = {**params, "kp_detector_params": {**params["kp_detector_params"], "num_blockz": 3}}
    with pytest.raises(ConfigError, match="kp_detector_params.num_blockz"):
        build_method("fomm", bad)
    with pytest.raises(ConfigError, match="common_params.num_kp"):
        build_method("fomm", {**params, "common_params": {"num_kp": "ten"}})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_reproduces_the_official_forward_pass_on_cuda(shared_dir, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    fx = load_fixture("fomm-body")
    model = build_method("fomm", fx["model_params"], fx["state_dict"], official=True).cuda()
    with torch.no_grad():
        got = model.forward_details(fx["inputs"]["source"].cuda(), fx["inputs"]["driving"].cuda())
        animated = model.animate(fx["inputs"]["source"].cuda(), fx["inputs"]["driving"].cuda(),
                                 fx["inputs"]["source"].cuda())
    errors = max_errors({k: got[k] for k in fx["outputs"]}, fx["outputs"])
    assert_within_tolerance("fomm-body", errors)
    assert animated.is_cuda and torch.isfinite(animated).all()
