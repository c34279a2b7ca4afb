"""MRAA: official checkpoint layout, official-code fixtures, PCA regions, animation modes, losses."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from bench.errors import ConfigError
from bench.methods import build_method
from bench.methods.mraa import animation_region_params
from bench.methods.mraa.networks import covariance_sqrt, revert_axis_swap
from bench.methods.presets import load_model_params
from tests.fomm_mraa_reference import (assert_within_tolerance, load_fixture, load_spec, max_errors, spec_names,
                                       state_shapes_on_meta)
from tests.reference import FIXTURES, tolerance

PRESET_OF_SPEC = {"mraa-vox256": "vox", "mraa-taichi256": "taichi", "mraa-ted384": "ted", "mraa-mgif256": "mgif"}


@pytest.mark.parametrize("stem", spec_names("mraa") or ["mraa-vox256"])
def test_official_config_builds_exactly_the_checkpoint_keys_and_shapes(shared_dir, stem):
    spec = load_spec(stem)
    got = state_shapes_on_meta("mraa", spec["model_params"])
    assert set(got) == set(spec["state_dict_shapes"])
    for net, expected in spec["state_dict_shapes"].items():
        assert got[net] == expected, f"{stem} {net}: keys/shapes differ"


def test_shipped_presets_equal_the_official_model_params(shared_dir):
    for stem in spec_names("mraa"):
        assert load_model_params("mraa", PRESET_OF_SPEC[stem]) == load_spec(stem)["model_params"]


@pytest.mark.parametrize("name", ["mraa-face", "mraa-body"])
def test_reproduces_the_official_forward_pass(shared_dir, name):
    fx = load_fixture(name)
    model = build_method("mraa", fx["model_params"], fx["state_dict"], official=True)
    with torch.no_grad():
        got = model.forward_details(fx["inputs"]["source"], fx["inputs"]["driving"], with_avd=True)
    errors = max_errors(got, fx["outputs"])
    assert {"source_region_params.affine", "driving_region_params.covar", "bg_params", "avd_region_params.shift",
            "prediction", "occlusion_map", "deformed"} <= set(errors)
    assert_within_tolerance(name, errors)


@pytest.fixture(scope="module")
def body_model():
    if not FIXTURES.is_dir():
        pytest.skip(f"reference fixtures not found at {FIXTURES}")
    fx = load_fixture("mraa-body")
    return build_method("mraa", fx["model_params"], fx["state_dict"], official=True), fx


def test_pca_affine_is_a_square_root_of_the_region_covariance(body_model):
    model, fx = body_model
    with torch.no_grad():
        regions = model.region_predictor(fx["inputs"]["source"])
    affine, covar = regions["affine"], regions["covar"]
    torch.testing.assert_close(affine @ affine.transpose(-1, -2), covar, atol=1e-5, rtol=1e-4)
    fast, _, _ = covariance_sqrt(covar, fast=True)
    torch.testing.assert_close(fast @ fast.transpose(-1, -2), covar, atol=1e-5, rtol=1e-4)


def test_axis_swap_reversion_makes_opposite_pca_signs_equivalent():
    affine = torch.tensor([[[[0.3, 0.1], [-0.1, 0.2]]]])
    flipped = -affine  # the same region with both principal axes sign-flipped
    relative = flipped @ torch.inverse(affine)  # = -I: a spurious 180 degree rotation
    torch.testing.assert_close(revert_axis_swap(relative, relative), torch.eye(2).view(1, 1, 2, 2))


def test_relative_mode_with_driving_equal_to_initial_keeps_source_regions(body_model):
    model, fx = body_model
    source, driving = fx["inputs"]["source"], fx["inputs"]["driving"]
    with torch.no_grad():
        src, drv = model.region_predictor(source), model.region_predictor(driving)
        new = animation_region_params(src, drv, drv, mode="relative")
        torch.testing.assert_close(new["shift"], src["shift"])
        torch.testing.assert_close(new["affine"], src["affine"], atol=1e-5, rtol=1e-4)
        assert animation_region_params(src, drv, drv, mode="standard")["shift"] is drv["shift"]
        avd = animation_region_params(src, drv, drv, mode="avd", avd_network=model.avd_network)
        torch.testing.assert_close(avd["shift"], fx["outputs"]["avd_region_params"]["shift"],
                                   atol=tolerance("mraa-body", "values"), rtol=0)


def test_animation_modes_select_what_the_generator_gets(body_model):
    model, fx = body_model
    source, driving = fx["inputs"]["source"], fx["inputs"]["driving"]
    with torch.no_grad():
        src = model.region_predictor(source)
        outputs = {}
        for mode in ("relative", "avd", "standard"):
            model.config.animation = dataclasses.replace(model.config.animation, mode=mode)
            outputs[mode] = model.animate(source, driving, driving)
        model.config.animation = dataclasses.replace(model.config.animation, mode="relative")
        drv = model.region_predictor(driving)
        # relative with driving == initial: the source's own regions (covariance from the driving frame)
        own = model.generator(source, {**src, "covar": drv["covar"]}, src)["prediction"]
        absolute = model.generator(source, drv, src)["prediction"]
    torch.testing.assert_close(outputs["relative"], own, atol=1e-5, rtol=0)
    torch.testing.assert_close(outputs["standard"], absolute, atol=1e-5, rtol=0)
    assert (outputs["avd"] - outputs["relative"]).abs().max() > 1e-3


def test_losses_are_finite_and_train_the_region_predictor_and_generator():
    model = build_method("mraa", load_model_params("mraa", "synthetic")).train()
    torch.manual_seed(0)
    losses = model.losses({"source": torch.rand(2, 3, 64, 64), "driving": torch.rand(2, 3, 64, 64)})
    assert set(losses) == {"perceptual", "pixel_l1", "equivariance_shift", "equivariance_affine"}
    assert all(torch.isfinite(v) and v.ndim == 0 for v in losses.values())
    sum(losses.values()).backward()
    for net in ("region_predictor", "generator", "bg_predictor"):
        grads = [p.grad for p in getattr(model, net).parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), net


def test_config_errors_name_the_key():
    params = load_model_params("mraa", "synthetic")
    with pytest.raises(ConfigError, match="bg_predictor_params.bg_type"):
        build_method("mraa", {**params, "bg_predictor_params": {**params["bg_predictor_params"], "bg_type": "tps"}})
    with pytest.raises(ConfigError, match="animation.mode"):
        build_method("mraa", {**params, "animation": {"mode": "absolute"}})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_reproduces_the_official_forward_pass_on_cuda(shared_dir, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    fx = load_fixture("mraa-face")
    model = build_method("mraa", fx["model_params"], fx["state_dict"], official=True).cuda()
    source, driving = fx["inputs"]["source"].cuda(), fx["inputs"]["driving"].cuda()
    with torch.no_grad():
        got = model.forward_details(source, driving, with_avd=True)
        animated = model.animate(source, driving, source)
    errors = max_errors({k: got[k] for k in fx["outputs"]}, fx["outputs"])
    assert_within_tolerance("mraa-face", errors)
    assert animated.is_cuda and torch.isfinite(animated).all()


def test_the_avd_stage_flag_is_in_the_state_and_official_checkpoints_set_it(shared_dir):
    params = load_model_params("mraa", "synthetic")
    model = build_method("mraa", params)
    assert [(s.name, s.networks) for s in model.stages] == [("avd", ("avd_network",))]
    assert not model.stage_trained("avd") and "trained_avd" in model.state_dict()
    model.mark_stage_trained("avd")
    fresh = build_method("mraa", params)
    fresh.load_state_dict(model.state_dict())  # survives a state-dict round trip (bench run --set ...)
    assert fresh.stage_trained("avd")
    older = {k: v for k, v in model.state_dict().items() if k != "trained_avd"}  # written before the stage existed
    fresh.load_state_dict(older)
    assert not fresh.stage_trained("avd")
    fx = load_fixture("mraa-face")
    assert build_method("mraa", fx["model_params"], fx["state_dict"], official=True).stage_trained("avd")
