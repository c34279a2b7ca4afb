"""FOMM and MRAA training and animation against the official-code fixtures (../shared/reference/fixtures).

One official training step of FOMM without and with its adversarial loss (``train.py``,
``modules/model.py`` ``GeneratorFullModel`` / ``DiscriminatorFullModel``) and of MRAA, MRAA's AVD stage
(``train_avd.py``) and the animation modes (FOMM ``normalize_kp``, MRAA ``relative`` / ``avd`` /
``standard``): losses, gradients of every network, intermediates and buffers, with the stored random
transform / scale fed in. Expected values and tolerances come from the fixture files (the README's rule on
noise_floors.json, tests.reference.tolerance).
"""
from __future__ import annotations

import pytest
import torch

import bench.methods.fomm.shared as shared
from bench.errors import UserError
from bench.methods import build_method
from bench.methods.fomm import normalize_kp
from bench.methods.fomm.animation import movement_scale
from bench.methods.losses import RandomTransform
from bench.methods.mraa import animation_region_params
from bench.methods.mraa.config import AVDTrainOptions
from tests.fomm_mraa_reference import (buffer_atol, fixture_weights, load_fixture, load_networks, load_vgg19_trunk,
                                       loss_atol, max_errors, noise_floor, official_losses, relative_grad_error)
from tests.reference import tolerance

#: the bound on ||g - g_ref|| / ||g_ref|| per network where the official code's own noise allows it
GRAD_RTOL = 1e-4


def grad_rtol(name: str, net: str) -> float:
    """1e-4, or 3 x the official code's own relative gradient noise where that is larger (MRAA: conv
    biases in front of train-mode BatchNorm have a true gradient of 0 and carry only noise)."""
    return max(GRAD_RTOL, 3 * noise_floor(name, f"grads/{net}: ||diff||/||grad||"))


pytestmark = pytest.mark.usefixtures("one_thread")  # as the official-code fixtures were made


def stored_transform(monkeypatch, fx) -> None:
    """Make the equivariance losses use the fixture's sampled transform."""
    stored = fx["random"]["equivariance_transform"]

    def transform(like, sigma_affine, sigma_tps, points_tps):
        t = RandomTransform(like.shape[0], sigma_affine, sigma_tps, points_tps)
        t.theta, t.control_params = stored["theta"].clone(), stored["control_params"].clone()
        return t

    monkeypatch.setattr(shared, "random_transform", transform)


def with_fixture_vgg(model, fx):
    load_vgg19_trunk(model.perceptual.module().vgg, fixture_weights().vgg19_features(fx))
    return model


def assert_losses(name, got, expected):
    assert set(got) == set(expected)
    for term, value in expected.items():
        assert abs(got[term].item() - value.item()) <= loss_atol(name, term), (term, got[term].item(), value.item())


def assert_running_stats(module, expected, atol):
    """BatchNorm running statistics (the official SynchronizedBatchNorm2d never counts
    ``num_batches_tracked``; with a fixed momentum the count changes nothing)."""
    state = module.state_dict()
    stats = {k: v for k, v in expected.items() if not k.endswith("num_batches_tracked")}
    assert stats and max((state[k] - v).abs().max().item() for k, v in stats.items()) < atol


@pytest.fixture
def fomm_step(shared_dir, monkeypatch):
    """FOMM with a fixture's weights in train mode, its transform fed in; records the discriminator calls."""

    def make(name):
        fx = load_fixture(name)
        params = {**fx["model_params"], "losses": official_losses(fx["train_params"])}
        model = with_fixture_vgg(build_method("fomm", params), fx)
        load_networks(model, fx["state_dict"])
        stored_transform(monkeypatch, fx)
        calls = []
        if model.discriminator is not None:
            def record(module, inputs, output):
                buffers = {k: v.clone() for k, v in module.state_dict().items() if k.endswith(("_u", "_v"))}
                calls.append((output[0], buffers))
            model.discriminator.register_forward_hook(record)
        return fx, model.train(), calls

    return make


@pytest.mark.parametrize("name", ["fomm-losses-face", "fomm-losses-gan-body"])
def test_fomm_training_step_matches_the_official_one(fomm_step, name):
    fx, model, calls = fomm_step(name)
    out = fx["outputs"]
    batch = {"source": fx["inputs"]["source"], "driving": fx["inputs"]["driving"]}
    losses = model.losses(batch)
    assert_losses(name, losses, out["losses"])
    generator_total = sum(v for k, v in losses.items() if k != "disc_gan")
    assert abs(generator_total.item() - out["loss_total_generator"].item()) <= loss_atol(name, "loss_total_generator")
    sum(losses.values()).backward()  # the trainer's one backward: each network gets only its own terms
    for net in ("kp_detector", "generator"):
        error = relative_grad_error(getattr(model, net).named_parameters(), out["grads"][net])
        assert error < grad_rtol(name, net), (net, error)
        assert_running_stats(getattr(model, net), out["buffers_after_generator_step"][net],
                             buffer_atol(name, "buffers_after_generator_step"))
    with torch.no_grad():  # train mode again: the same batch statistics
        details = model.forward_details(batch["source"], batch["driving"])
    expected = {k: out["intermediates"][k] for k in ("kp_source", "kp_driving", "occlusion_map", "mask",
                                                       "sparse_deformed")}
    errors = max_errors({k: details[k] for k in expected}, expected)
    assert max(errors.values()) < tolerance(name, "values"), errors
    for key in ("prediction", "deformed"):
        assert (details[key] - out["intermediates"][key]).abs().max() < tolerance(name, "images"), key
    if model.discriminator is None:
        assert "disc_gan" not in losses and model.adversary() is None
        return
    d_step = out["discriminator_step"]
    error = relative_grad_error(model.discriminator.named_parameters(), d_step["grads"])
    assert error < grad_rtol(name, "discriminator"), error
    assert abs(losses["disc_gan"].item() - d_step["loss_total"].item()) <= loss_atol(name, "disc_gan")
    # the four discriminator calls, in the official order; spectral norm advances once per call
    order = ("G_step_generated", "G_step_real", "D_step_generated", "D_step_real")
    assert len(calls) == len(order)
    for (result, _), key in zip(calls, order):
        expected = out["discriminator_calls"][key]
        got = {"prediction_map_1": result.prediction}
        if "feature_maps_1" in expected:
            got["feature_maps_1"] = dict(enumerate(result.features))
            expected = {**expected, "feature_maps_1": dict(enumerate(expected["feature_maps_1"]))}
        errors = max_errors(got, expected)
        assert max(errors.values()) < tolerance(name, "values"), (key, errors)
    for (_, buffers), expected, floor_key in ((calls[1], out["buffers_after_generator_step"]["discriminator"],
                                               "buffers_after_generator_step"),
                                              (calls[3], d_step["buffers_after_d_step"], "buffers_after_d_step")):
        atol = buffer_atol(name, floor_key, strict=1e-6)
        assert max((buffers[k] - v).abs().max().item() for k, v in expected.items()) < atol


def test_mraa_training_step_matches_the_official_one(shared_dir, monkeypatch):
    name = "mraa-losses-body"
    fx = load_fixture(name)
    model = build_method("mraa", {**fx["model_params"], "losses": official_losses(fx["train_params"])})
    with_fixture_vgg(model, fx)
    load_networks(model, fx["state_dict"])
    stored_transform(monkeypatch, fx)
    out = fx["outputs"]
    batch = {"source": fx["inputs"]["source"], "driving": fx["inputs"]["driving"]}
    losses = model.train().losses(batch)
    assert_losses(name, losses, out["losses"])
    sum(losses.values()).backward()
    for net in ("generator", "region_predictor", "bg_predictor"):
        error = relative_grad_error(getattr(model, net).named_parameters(), out["grads"][net])
        assert error < grad_rtol(name, net), (net, error)
        assert_running_stats(getattr(model, net), out["buffers_after_step"][net], buffer_atol(name, "buffers_after_step"))


@pytest.fixture
def avd_fixture(shared_dir):
    fx = load_fixture("mraa-avd-face")
    model = build_method("mraa", fx["model_params"])
    load_networks(model, fx["state_dict"])
    return fx, model


def test_mraa_avd_stage_matches_official_train_avd(avd_fixture, monkeypatch):
    fx, model = avd_fixture
    out, params = fx["outputs"]["train_avd"], fx["train_avd_params"]
    uniform = fx["random"]["random_scale"]["uniform"]
    monkeypatch.setattr(torch, "rand", lambda *shape, **kw: uniform.clone())  # train_avd.random_scale's draw
    regions, avd_io = [], []
    model.region_predictor.register_forward_hook(lambda m, i, o: regions.append(o))
    model.avd_network.register_forward_hook(lambda m, i, o: avd_io.append((i, o)))
    batch = {"source": fx["inputs"]["source"], "driving": fx["inputs"]["driving"]}
    losses = model.train().stage_losses("avd", batch, AVDTrainOptions(random_scale=params["random_scale"]))
    weights = {"rec_shift": params["lambda_shift"], "rec_affine": params["lambda_affine"]}  # the stage's loss_weights
    weighted = {k: weights[k] * v for k, v in losses.items()}
    assert_losses("mraa-avd-face", weighted, out["losses"])
    sum(weighted.values()).backward()
    grads = out["grads"]["avd_network"]
    sampled = out["grads_sampled"]["avd_network"]
    error = relative_grad_error(model.avd_network.named_parameters(), grads, sampled)
    assert error < grad_rtol("mraa-avd-face", "avd_network"), error
    assert all(p.grad is None for p in model.region_predictor.parameters()), "the region predictor is frozen"
    (_, pose), rebuilt = avd_io[0]
    got = {"regions_params_id": regions[0], "regions_params_pose_gt": regions[1], "regions_params_pose": pose,
           "rec": rebuilt}
    errors = max_errors(got, {k: out[k] for k in got})
    assert max(errors.values()) < tolerance("mraa-avd-face", "values"), errors
    assert_running_stats(model.avd_network, out["avd_bn_buffers_after"], buffer_atol("mraa-avd-face", "avd_bn_buffers"))


@pytest.mark.parametrize("mode", ["relative", "avd", "standard"])
def test_mraa_animation_modes_match_official_demo(avd_fixture, mode):
    fx, model = avd_fixture
    model.mark_stage_trained("avd")  # the fixture's AVD network stands for an official, trained one
    inputs, out = fx["inputs"], fx["outputs"]["animation"]
    source, video = inputs["animation_source"], inputs["animation_driving_video"]
    initial = inputs["animation_driving_initial"]
    model.eval()
    with torch.no_grad():
        src = model.region_predictor(source.expand_as(video))
        new = animation_region_params(src, model.region_predictor(video),
                                      model.region_predictor(initial.expand_as(video)), mode, model.avd_network)
        generated = model.generator(source.expand_as(video), new, src)
        model.config.animation.mode = mode
        animated = model.animate(source, video, initial)
    expected = out[mode]
    errors = max_errors({k: new[k] for k in expected["new_region_params"]}, expected["new_region_params"])
    assert max(errors.values()) < tolerance("mraa-avd-face", "values"), errors
    atol = tolerance("mraa-avd-face", "images")
    for key in ("prediction", "deformed", "occlusion_map"):
        assert (generated[key] - expected[key]).abs().max() < atol, key
    torch.testing.assert_close(animated, generated["prediction"], atol=0, rtol=0)


def test_mraa_animation_defaults_to_avd_once_the_avd_network_is_trained(avd_fixture):
    fx, model = avd_fixture
    assert model.config.animation.mode is None
    assert model.animation_mode() == "relative", "an untrained AVD network: the relative mode"
    model.config.animation.mode = "avd"
    with pytest.raises(UserError, match="needs a trained AVD network.*--stage avd"):
        model.animation_mode()
    model.mark_stage_trained("avd")
    assert model.animation_mode() == "avd"
    model.config.animation.mode = None
    assert model.animation_mode() == "avd"


@pytest.fixture
def fomm_animation(shared_dir):
    fx = load_fixture("fomm-animation-face")

    def model(**animation):
        return build_method("fomm", {**fx["model_params"], "animation": animation}, fx["state_dict"], official=True)

    return fx, model


def test_fomm_normalize_kp_matches_official_in_all_four_combinations(fomm_animation):
    fx, make = fomm_animation
    model = make()
    inputs, out = fx["inputs"], fx["outputs"]
    with torch.no_grad():
        kp_source = model.kp_detector(inputs["source"])
        kp_initial = model.kp_detector(inputs["driving_initial"])
        kp_driving = model.kp_detector(inputs["driving_video"])
    got = {"kp_source": kp_source, "kp_driving_initial": kp_initial, "kp_driving": kp_driving}
    errors = max_errors(got, {k: out[k] for k in got})
    atol = tolerance("fomm-animation-face", "values")
    assert max(errors.values()) < atol, errors
    scale = movement_scale(kp_source["value"], kp_initial["value"]).item()
    assert scale == pytest.approx(out["adapt_movement_scale_value"], abs=atol)
    for key, expected in out["kp_norm"].items():
        flags = dict(item.split("=") for item in key.split(","))
        got = normalize_kp(kp_source, kp_driving, kp_initial, adapt_movement_scale=flags["adapt_movement_scale"] == "True",
                           use_relative_movement=True, use_relative_jacobian=flags["use_relative_jacobian"] == "True")
        errors = max_errors(got, expected)
        assert max(errors.values()) < atol, (key, errors)


def test_fomm_animation_defaults_are_the_official_yamls_and_predictions_match(fomm_animation):
    fx, make = fomm_animation
    official = fx["animate_params"]["normalization_params"]
    assert build_method("fomm", fx["model_params"]).config.animation.__dict__ == dict(official)
    inputs, out = fx["inputs"], fx["outputs"]["predictions"]
    cases = {"relative=True,adapt_movement_scale=True": {"adapt_movement_scale": True},
             "relative=True,adapt_movement_scale=False": {},
             "relative=False": {"use_relative_movement": False, "use_relative_jacobian": False}}
    for key, animation in cases.items():
        with torch.no_grad():
            got = make(**animation).animate(inputs["source"], inputs["driving_video"], inputs["driving_initial"])
        atol = tolerance("fomm-animation-face", "images")
        assert (got - out[key]).abs().max() < atol, key
