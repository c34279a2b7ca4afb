"""TPSMM: official checkpoint layout, presets, official-code forward fixtures, TPS, dropout, config errors."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch

from bench.errors import ConfigError
from bench.methods.presets import load_model_params
from bench.methods.tpsmm import TPS, TPSMM, DenseMotionNetwork, build_tpsmm
from tests.fomm_mraa_reference import fixture_weights, load_spec, spec_names
from tests.reference import REFERENCE, category, tolerance

#: the official configs' checkpoint specs of the reference folder, e.g. tpsmm-vox-256 (our preset: vox)
STEMS = spec_names("tpsmm")

pytestmark = pytest.mark.usefixtures("one_thread")  # as the official-code fixtures were made


needs_shared = pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"shared reference material not found at {REFERENCE}")


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{'a.b.0': leaf}`` of nested dicts and lists."""
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in flatten(value, f"{prefix}{key}.").items()}
    if isinstance(tree, (list, tuple)):
        return {k: v for i, value in enumerate(tree) for k, v in flatten(value, f"{prefix}{i}.").items()}
    return {prefix[:-1]: tree}


def max_errors(got: Any, expected: Any) -> dict[str, float]:
    """Max |got - expected| of every tensor leaf of ``expected`` (shapes must agree)."""
    flat_got, errors = flatten(got), {}
    for key, ref in flatten(expected).items():
        value = flat_got[key]
        assert tuple(value.shape) == tuple(ref.shape), f"{key}: shape {tuple(value.shape)} != {tuple(ref.shape)}"
        errors[key] = (value.detach().float().cpu() - ref.float()).abs().max().item()
    return errors


def assert_within_tolerance(errors: dict[str, float], name: str) -> None:
    """The fixture README's tolerances, derived from noise_floors.json (values: keypoints, bg params, flows,
    masks; images: prediction, deformed, deformed source, warped maps)."""
    over = {k: v for k, v in errors.items() if v > tolerance(name, category(k.replace(".", "/")))}
    assert not over, f"over tolerance: {over}"


# ----------------------------------------------------------------------------- checkpoint layout

@needs_shared
@pytest.mark.parametrize("stem", STEMS)
def test_official_config_builds_exactly_the_checkpoint_keys_and_shapes(stem):
    spec = load_spec(stem)
    with torch.device("meta"):
        model = build_tpsmm(spec["model_params"])
    nets = model.networks()
    assert list(nets) == [n for n in ("inpainting_network", "kp_detector", "dense_motion_network", "bg_predictor",
                                      "avd_network") if n in spec["state_dict_shapes"]]
    for name, net in nets.items():
        got = {k: list(v.shape) for k, v in net.state_dict().items()}
        assert got == spec["state_dict_shapes"][name], f"{stem} {name}: keys/shapes differ"
        assert sum(p.numel() for p in net.parameters()) == spec["num_parameters"][name]
    # a checkpoint as the official train.py / train_avd.py save it loads strictly
    checkpoint: dict[str, Any] = {
        name: {k: torch.zeros(shape, dtype=torch.long) if k.endswith("num_batches_tracked") else torch.empty(shape)
               for k, shape in shapes.items()}
        for name, shapes in spec["state_dict_shapes"].items()}
    checkpoint.update(epoch=99, optimizer={"state": {}})
    for name, net in nets.items():
        net.load_state_dict(checkpoint[name], strict=True, assign=True)
        assert all(not t.is_meta for t in net.state_dict().values())


@needs_shared
def test_shipped_presets_equal_the_official_model_params():
    """The official model_params exactly, plus our ``training`` section (the config's epoch schedule, see
    test_tpsmm_training.py)."""
    assert STEMS, "no TPSMM checkpoint spec in the reference folder"
    for stem in STEMS:
        preset = stem.split("-")[1]
        params, official = load_model_params("tpsmm", preset), load_spec(stem)["model_params"]
        assert {k: v for k, v in params.items() if k != "training"} == official, preset
        assert set(params) - set(official) == {"training"}, preset


# ----------------------------------------------------------------------------- official forward fixtures

@pytest.fixture(scope="module", params=["tpsmm-face", "tpsmm-body"])
def official(request) -> tuple[TPSMM, dict[str, Any], str]:
    if not REFERENCE.is_dir():
        pytest.skip(f"shared reference material not found at {REFERENCE}")
    name = request.param
    # trusted project material written by the official code (plain dicts of tensors)
    fx = torch.load(REFERENCE / "fixtures" / f"{name}.pt", weights_only=False)
    fw = fixture_weights()
    model = build_tpsmm(fx["model_params"])
    for net, state in fw.state_dicts(fx).items():
        assert fw.sha256(state) == fx["state_dict_sha256"][net]
        model.networks()[net].load_state_dict(state, strict=True)
    return model.eval(), fx, name


def test_reconstruction_reproduces_the_official_forward_pass(official):
    model, fx, name = official
    with torch.no_grad():
        got = model.forward_details(fx["inputs"]["source"], fx["inputs"]["driving"])
    errors = max_errors(got, fx["outputs"]["reconstruction"])
    background = ["bg_param"] if fx["model_params"]["common_params"]["bg"] else []
    assert {"kp_source.fg_kp", "kp_driving.fg_kp", *background, "dense_motion.deformation",
            "dense_motion.contribution_maps", "dense_motion.occlusion_map.3", "dense_motion.deformed_source",
            "prediction", "deformed", "warped_encoder_maps.0"} <= set(errors)
    assert_within_tolerance(errors, name)


@pytest.mark.parametrize("mode", ["relative", "standard"])
def test_animation_reproduces_the_official_demo(official, mode):
    model, fx, name = official
    inputs, expected = fx["inputs"], fx["outputs"]["animation"]
    with torch.no_grad():
        got = model.animate_details(inputs["animation_source"], inputs["animation_driving_video"],
                                    inputs["animation_driving_initial"], mode)
    errors = max_errors(got, {k: expected[k] for k in ("kp_source", "kp_driving_initial", "kp_driving")})
    errors.update(max_errors(got, expected[mode]))
    assert {"kp_norm.fg_kp", "dense_motion.deformation", "dense_motion.occlusion_map.0", "prediction"} <= set(errors)
    assert_within_tolerance(errors, name)
    if mode == "relative":
        assert got["movement_scale"] == pytest.approx(expected["adapt_movement_scale_value"],
                                                      abs=tolerance(name, "values"))


def test_animate_uses_the_configured_mode_without_background(official):
    model, fx, _ = official
    source, driving = fx["inputs"]["animation_source"], fx["inputs"]["animation_driving_video"][:2]
    model.mark_stage_trained("avd")  # 'avd' needs a trained AVD network (random weights stand for one here)
    try:
        with torch.no_grad():
            for mode in ("relative", "standard", "avd"):
                model.config.animation = dataclasses.replace(model.config.animation, mode=mode)
                out = model.animate(source, driving, driving[:1])
                details = model.animate_details(source, driving, driving[:1], mode)
                assert torch.equal(out, details["prediction"]) and out.shape == driving.shape
                assert torch.isfinite(out).all()
    finally:
        model.trained_avd.fill_(False)
        model.config.animation = dataclasses.replace(model.config.animation, mode=None)
    with torch.no_grad():
        # relative with driving == initial: the source keypoints themselves
        details = model.animate_details(source, driving[:1], driving[:1], "relative")
        torch.testing.assert_close(details["kp_norm"]["fg_kp"], details["kp_source"]["fg_kp"])
        # generate = reconstruction with the background motion (when the config has one); animate = without it
        rec = model.forward_details(source, driving)
        standard = model.animate_details(source, driving, driving[:1], "standard")
    background = fx["model_params"]["common_params"]["bg"]
    assert (rec["bg_param"] is not None) == background
    torch.testing.assert_close(model.generate(source, driving), rec["prediction"])
    if background:
        assert (rec["prediction"] - standard["prediction"]).abs().max() > 0
    else:
        torch.testing.assert_close(rec["prediction"], standard["prediction"])


# ----------------------------------------------------------------------------- TPS, dropout, config

def test_random_tps_without_noise_is_the_identity():
    tps = TPS.random(2, sigma_affine=0.0, sigma_tps=0.0, points_tps=5)
    frame = torch.rand(2, 3, 12, 10)
    torch.testing.assert_close(tps.transform_frame(frame), frame, atol=1e-5, rtol=0)
    points = torch.rand(2, 7, 2) * 2 - 1
    torch.testing.assert_close(tps.warp_coordinates(points), points)
    generator = torch.Generator().manual_seed(3)
    a = TPS.random(2, 0.05, 0.005, 5, generator=generator)
    assert a.theta.shape == (2, 2, 3) and a.control_params.shape == (2, 1, 25)


def test_keypoint_tps_maps_driving_keypoints_near_the_source_ones():
    torch.manual_seed(0)
    kp_1 = torch.rand(2, 3, 5, 2) * 1.6 - 0.8
    kp_2 = kp_1 + 0.05 * torch.randn(2, 3, 5, 2)
    tps = TPS.from_keypoints(kp_1, kp_2)
    assert tps.sampling_grid((8, 8)).shape == (2, 3, 8, 8, 2)
    warped = tps.warp_coordinates(kp_1.view(2, 15, 2))  # each group's control points, every group's TPS
    own = torch.stack([warped[:, g, 5 * g:5 * g + 5] for g in range(3)], dim=1)
    # the 0.01 regularisation makes the fit approximate, not interpolating
    assert (own - kp_2).abs().max() < 0.05 < (kp_1 - kp_2).abs().max()


def test_tps_dropout_keeps_the_background_and_renormalises():
    logits = torch.randn(2, 5, 4, 4)
    torch.testing.assert_close(DenseMotionNetwork.dropout_softmax(logits, 0.0), torch.softmax(logits, dim=1),
                               atol=1e-5, rtol=0)
    only_bg = DenseMotionNetwork.dropout_softmax(logits, 1.0)
    assert torch.all(only_bg[:, 1:] == 0)
    assert torch.all(only_bg[:, 0] > 0.99)  # exp / (exp + 1e-6): 1 up to the official epsilon
    half = DenseMotionNetwork.dropout_softmax(logits, 0.5, torch.Generator().manual_seed(0))
    torch.testing.assert_close(half.sum(dim=1), torch.ones(2, 4, 4), atol=1e-5, rtol=0)


def small_params(**common: Any) -> dict[str, Any]:
    return {"common_params": {"num_tps": 2, "num_channels": 3, "bg": False, "multi_mask": True, **common},
            "generator_params": {"block_expansion": 4, "max_features": 16, "num_down_blocks": 3},
            "dense_motion_params": {"block_expansion": 4, "max_features": 16, "num_blocks": 3, "scale_factor": 0.25},
            "avd_network_params": {"id_bottle_size": 8, "pose_bottle_size": 8}}


def test_single_mask_and_training_dropout_run_and_backpropagate():
    model = build_tpsmm(small_params(multi_mask=False)).train()
    assert "bg_predictor" not in model.networks()
    source, driving = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    out = model.forward_details(source, driving, dropout_p=0.3)
    assert len(out["dense_motion"]["occlusion_map"]) == 1 and out["bg_param"] is None
    out["prediction"].mean().backward()
    assert model.dense_motion_network.maps.weight.grad.abs().sum() > 0
    encode = model.inpainting_network.get_encode(driving, out["dense_motion"]["occlusion_map"])
    assert [e.shape[1:] for e in encode] == [m.shape[1:] for m in out["warped_encoder_maps"][::-1]]


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="tpsmm needs model_params"):
        build_tpsmm(None)
    with pytest.raises(ConfigError, match="animation.mode"):
        build_tpsmm({**small_params(), "animation": {"mode": "absolute"}})
    with pytest.raises(ConfigError, match="generator_params.num_down_blocks"):
        params = small_params()
        build_tpsmm({**params, "generator_params": {**params["generator_params"], "num_down_blocks": 2}})
    with pytest.raises(ConfigError, match="dense_motion_params.scale_factor"):
        params = small_params()
        build_tpsmm({**params, "dense_motion_params": {**params["dense_motion_params"], "scale_factor": 0.3}})
    with pytest.raises(ConfigError, match="common_params.num_kp"):
        build_tpsmm({**small_params(), "common_params": {"num_kp": 10}})
    with pytest.raises(ConfigError, match="common_params.num_tps"):
        build_tpsmm({**small_params(), "common_params": {"num_channels": 3}})


@needs_shared
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_reproduces_the_official_forward_pass_on_cuda(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    name = "tpsmm-body"
    fx = torch.load(REFERENCE / "fixtures" / f"{name}.pt", weights_only=False)
    model = build_tpsmm(fx["model_params"])
    for net, state in fixture_weights().state_dicts(fx).items():
        model.networks()[net].load_state_dict(state, strict=True)
    model = model.cuda().eval()
    inputs = {k: v.cuda() for k, v in fx["inputs"].items()}
    with torch.no_grad():
        rec = model.forward_details(inputs["source"], inputs["driving"])
        anim = model.animate_details(inputs["animation_source"], inputs["animation_driving_video"],
                                     inputs["animation_driving_initial"], "relative")
    errors = max_errors(rec, fx["outputs"]["reconstruction"])
    errors.update({f"relative.{k}": v for k, v in max_errors(anim, fx["outputs"]["animation"]["relative"]).items()})
    assert_within_tolerance(errors, name)
