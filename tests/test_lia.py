"""LIA: forward passes against the official code (``tests/fixtures/official-lia.pt``, made by
``make_official_lia.py``), the official checkpoint layout (``tests/fixtures/lia-256.json``) and loading, presets,
config errors and the input conventions."""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from bench.errors import CheckpointError
from bench.errors import ConfigError
from bench.methods import METHODS, build_method
from bench.methods.lia import LIA, build_lia
from bench.methods.presets import load_model_params, preset_datasets
from tests.fixtures.make_official_tpsmm_losses import materialize  # the weight recipes, as the generator wrote them

FIXTURES = Path(__file__).with_name("fixtures")
SMALL = ("face-16", "body-8")
#: fixture output -> what our forward_details calls it
INTERMEDIATES = {"w_source": "w_source", "alpha": "alpha", "directions": "directions"}
ANIMATION = {"anim_alpha_start": "alpha_start", "anim_alpha_source": "alpha_source"}

pytestmark = pytest.mark.usefixtures("one_thread")  # as the official-code fixtures were made


@pytest.fixture(scope="module")
def fx() -> dict[str, Any]:
    return torch.load(FIXTURES / "official-lia.pt", weights_only=False)  # project material written by the official code


def tolerance(case: dict[str, Any], key: str) -> float:
    """The fixture README rule: ``max(1e-4, 10 x floor)``, the floor measured with the official code."""
    return max(1e-4, 10 * case["noise_floor"][key])


def unit(frames: torch.Tensor) -> torch.Tensor:
    return frames.float() / 255  # stored as uint8, given to the official code as u8.float() / 255


@pytest.fixture(scope="module")
def models(fx) -> Callable[[str], LIA]:
    """Our LIA with the official weights of a fixture case (built once per case: 40 M weights to draw)."""
    @functools.cache
    def model(name: str) -> LIA:
        case = fx["cases"][name]
        with torch.device("meta"):
            built = build_lia({**case["model_params"], "losses": {"gen_gan": 0}})
        built.gen.load_state_dict(materialize(case["recipe"]), strict=True, assign=True)
        return built.eval()
    return model


def check(case: dict[str, Any], got: dict[str, torch.Tensor], keys: dict[str, str]) -> dict[str, float]:
    errors = {}
    for theirs, ours in keys.items():
        expected = case["outputs"][theirs]
        value = got[ours]
        if expected.shape[0] == 1 and value.shape[0] > 1:  # of the one source (or initial frame), broadcast
            assert value.stride(0) == 0, f"{ours} is computed once per source"
            value = value[:1]
        assert value.shape == expected.shape, (theirs, value.shape, expected.shape)
        errors[theirs] = (value - expected).abs().max().item()
    over = {k: v for k, v in errors.items() if v > tolerance(case, k)}
    assert not over, f"over tolerance: {over}"
    return errors


def reconstruction(model: LIA, case: dict[str, Any]) -> dict[str, torch.Tensor]:
    x = case["inputs"]
    with torch.no_grad():
        return model.forward_details(unit(x["source"]), unit(x["driving"]))


def animation(model: LIA, case: dict[str, Any], mode: str) -> dict[str, torch.Tensor]:
    x = case["inputs"]
    initial = unit(x["anim_initial"]) if mode == "relative" else None
    with torch.no_grad():
        return model.forward_details(unit(x["anim_source"]), unit(x["anim_driving"]), initial)


# ----------------------------------------------------------------------------- official forward passes

@pytest.mark.parametrize("name", SMALL)
def test_reconstruction_reproduces_evaluation_py(fx, models, name):
    case = fx["cases"][name]
    got = reconstruction(models(name), case)
    errors = check(case, {**got, "reconstruction": got["prediction"]}, {**INTERMEDIATES,
                                                                       "reconstruction": "reconstruction"})
    print(f"\n{name}: " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_animation_reproduces_run_demo_py(fx, models, name, mode, monkeypatch):
    case = fx["cases"][name]
    model = models(name)
    monkeypatch.setattr(model.config.animation, "mode", mode)
    got = animation(model, case, mode)
    check(case, {**got, mode: got["prediction"]}, {mode: mode, **(ANIMATION if mode == "relative" else {})})
    x = case["inputs"]
    with torch.no_grad():  # the Method API: [0, 1] frames, the configured mode, the clamped image
        frames = model.animate(unit(x["anim_source"]), unit(x["anim_driving"]), unit(x["anim_initial"]))
    expected = (case["outputs"][mode].clamp(-1, 1) + 1) / 2
    assert (frames - expected).abs().max().item() <= tolerance(case, mode)


def test_official_size_relative_animation(fx, models):
    """The official 256 configuration, relative mode: every part of the generator at full depth."""
    case = fx["cases"]["official-256"]
    got = animation(models("official-256"), case, "relative")
    errors = check(case, {**got, "relative": got["prediction"]}, {"relative": "relative", **ANIMATION})
    print("\nofficial-256 relative: " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))


@pytest.mark.slow
def test_official_size_reconstruction_and_absolute_animation(fx, models):
    case = fx["cases"]["official-256"]
    model = models("official-256")
    got = reconstruction(model, case)
    check(case, {**got, "reconstruction": got["prediction"]}, {**INTERMEDIATES, "reconstruction": "reconstruction"})
    got = animation(model, case, "absolute")
    check(case, {"absolute": got["prediction"]}, {"absolute": "absolute"})


def test_one_source_is_encoded_once_and_broadcast(fx, models):
    """A source of batch 1 (and the initial frame) against several driving frames equals the per-frame
    official calls (checked above), and the same source repeated gives the same frames."""
    case = fx["cases"]["body-8"]
    model = models("body-8")
    x = case["inputs"]
    driving, initial = unit(x["anim_driving"]), unit(x["anim_initial"])
    source = unit(x["anim_source"])
    with torch.no_grad():
        once = model.forward_details(source, driving, initial)["prediction"]
        repeated = model.forward_details(source.repeat(len(driving), 1, 1, 1), driving,
                                         initial.repeat(len(driving), 1, 1, 1))["prediction"]
    torch.testing.assert_close(once, repeated, atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- official checkpoints

@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads((FIXTURES / "lia-256.json").read_text())


def test_official_configuration_builds_exactly_the_checkpoint_keys_and_shapes(spec):
    """``lia-256.json`` comes from the official ``Generator(256, 512, 20, 1)`` and ``Discriminator(256, 1)``;
    every shipped preset of the official size builds the same layout."""
    for preset in ("vox", "taichi", "ted"):
        params = load_model_params("lia", preset)
        assert {k: params[k] for k in spec["model_params"]} == spec["model_params"], preset
        with torch.device("meta"):
            model = build_lia(params)
        nets = model.networks()
        assert list(nets) == ["gen", "dis"]
        for name, net in nets.items():
            got = {k: list(v.shape) for k, v in net.state_dict().items()}
            assert list(got) == list(spec["state_dict_shapes"][name]), f"{preset} {name}: key order"
            assert got == spec["state_dict_shapes"][name], f"{preset} {name}: keys/shapes differ"
            assert sum(p.numel() for p in net.parameters()) == spec["num_parameters"][name]


def official_file(model: LIA, with_dis: bool = True) -> dict[str, Any]:
    """What ``trainer.save`` writes (without the argparse ``args``, which needs a full pickle load)."""
    data = {"gen": model.gen.state_dict(), "g_optim": {"state": {}, "param_groups": []}}
    if with_dis:
        data.update(dis=model.dis.state_dict(), d_optim={"state": {}, "param_groups": []})
    return data


TINY = {"size": 16, "latent_dim_style": 32, "latent_dim_motion": 4, "max_channels": 8,
        "losses": {"scales": [1.0], "perceptual": [1, 0, 0, 0, 0], "pretrained_vgg": False}}


def test_official_checkpoints_load_strictly_with_or_without_the_discriminator():
    torch.manual_seed(0)
    trained = build_lia(TINY)
    model = build_method("lia", TINY, official_file(trained), official=True)
    assert not model.training
    for name in ("gen", "dis"):
        assert all(torch.equal(a, b) for a, b in zip(getattr(model, name).state_dict().values(),
                                                     getattr(trained, name).state_dict().values()))
    generator_only = build_method("lia", TINY, official_file(trained, with_dis=False), official=True)
    assert torch.equal(generator_only.gen.dec.direction.weight, trained.gen.dec.direction.weight)
    broken = official_file(trained)
    broken["gen"] = {k: v for k, v in broken["gen"].items() if not k.endswith("blur.kernel")}
    with pytest.raises(CheckpointError, match="missing dec.convs.0.conv.blur.kernel"):
        build_method("lia", TINY, broken, official=True)
    with pytest.raises(CheckpointError, match="checkpoint has no 'gen'"):
        build_method("lia", TINY, {"dis": trained.dis.state_dict()}, official=True)


def test_registered_with_official_support_and_presets_for_every_dataset():
    assert METHODS.get("lia").official and METHODS.get("lia").title == "LIA"
    assert {"vox", "taichi", "ted", "dfdc", "nemo", "fashion", "aist", "bair", "mgif", "synthetic"} <= set(
        preset_datasets("lia"))
    modes = {name: load_model_params("lia", name)["animation"]["mode"] for name in ("vox", "taichi", "ted")}
    assert modes == {"vox": "relative", "taichi": "relative", "ted": "absolute"}, "run_demo.py's h_start choice"


# ----------------------------------------------------------------------------- conventions and config

def test_frames_of_another_size_are_resized_to_the_model_and_back():
    torch.manual_seed(0)
    model = build_lia(TINY).eval()
    source, driving = torch.rand(1, 3, 24, 24), torch.rand(2, 3, 24, 24)
    with torch.no_grad():
        frames = model.generate(source, driving)
        small = model.forward_details(*(torch.nn.functional.interpolate(x, size=(16, 16), mode="bilinear",
                                                                         antialias=True) for x in (source, driving)))
    assert frames.shape == driving.shape and 0 <= frames.min() and frames.max() <= 1
    expected = torch.nn.functional.interpolate((small["prediction"].clamp(-1, 1) + 1) / 2, size=(24, 24),
                                               mode="bilinear", antialias=True)
    torch.testing.assert_close(frames, expected)


def test_motion_dictionary_is_orthonormal_and_linear():
    torch.manual_seed(0)
    direction = build_lia(TINY).gen.dec.direction
    q = direction.basis()
    torch.testing.assert_close(q.t() @ q, torch.eye(4), atol=1e-5, rtol=0)
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    torch.testing.assert_close(direction(a + b), direction(a) + direction(b), atol=1e-5, rtol=0)


def test_relative_animation_of_the_initial_frame_keeps_the_source_latent():
    """``w + (D(a) - D(a_start)) + D(a_source)`` with the driving frame = the initial frame is the source's
    own latent ``w + D(a_source)``: the source is reproduced as the network reconstructs it."""
    torch.manual_seed(0)
    model = build_lia(TINY).eval()
    source, driving = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        moved = model.forward_details(source, driving, driving)
        itself = model.forward_details(source, source)
    torch.testing.assert_close(moved["latent"], itself["latent"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("change, key", [
    ({"size": 48}, "size"), ({"size": 4}, "size"), ({"latent_dim_motion": 40, "latent_dim_style": 32},
                                                    "latent_dim_motion"),
    ({"max_channels": 0}, "max_channels"), ({"animation": {"mode": "avd"}}, "animation.mode"),
    ({"losses": {"perceptual": [1, 2]}}, "losses.perceptual"), ({"losses": {"scales": [2.0]}}, "losses.scales"),
    ({"latent_dim": 3}, "latent_dim"), ({"flow_init_gain": -1.0}, "flow_init_gain"),
])
def test_config_errors_name_the_key(change, key):
    with pytest.raises(ConfigError, match=key):
        build_lia({**TINY, **change})


def test_flow_init_gain_scales_only_the_initial_flow_heads():
    """A tiny-preset init knob: the same random draws and layout, the flow heads' weights scaled (0: identity
    flows and masks of 1/2 at every level)."""
    torch.manual_seed(0)
    official = build_lia(TINY)
    torch.manual_seed(0)
    zero = build_lia({**TINY, "flow_init_gain": 0.0})
    for (key, a), b in zip(official.state_dict().items(), zero.state_dict().values()):
        flow_head = key.startswith("gen.dec.to_flows.") and key.endswith("conv.weight")
        assert torch.equal(b, torch.zeros_like(a) if flow_head else a), key
    flows = []
    zero.gen.dec.to_flows[-1].register_forward_hook(lambda m, i, o: flows.append(o[2]))
    with torch.no_grad():
        zero.eval().forward_details(torch.rand(1, 3, 16, 16), torch.rand(2, 3, 16, 16))
    assert torch.equal(flows[0], torch.zeros_like(flows[0])), "flow offsets 0, mask logits 0"


def test_discriminator_batch_must_group_by_four():
    torch.manual_seed(0)
    model = build_lia(TINY)
    assert model.dis(torch.rand(8, 3, 16, 16)).shape == (8, 1) and model.dis(torch.rand(3, 3, 16, 16)).shape == (3, 1)
    with pytest.raises(ValueError, match="groups the batch by 4"):
        model.dis(torch.rand(6, 3, 16, 16))
