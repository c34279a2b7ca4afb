"""TPSMM training: the official losses and gradients (``tests/fixtures/official-tpsmm-losses.pt``, made by
``make_official_tpsmm_losses.py`` with the official code; tolerances from the noise floors it records, by the
rule of ``tests.reference.tolerance``), the epoch schedule of ``train.py`` (background
warm-up, TPS dropout, gradient clipping, Adam weight decay), the AVD stage of ``train_avd.py``, official
checkpoints with optional sub-networks, and the shipped presets and strategies."""
from __future__ import annotations

import copy
import json
import math
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import bench.methods.tpsmm.model as tpsmm_model
import bench.methods.tpsmm.networks as tpsmm_networks
from bench.checkpoints import load_checkpoint
from bench.errors import CheckpointError
from bench.datasets import DATASETS
from bench.errors import ConfigError, UserError
from bench.methods import METHODS, build_method
from bench.methods.blocks import make_coordinate_grid
from bench.methods.base import Method
from bench.methods.losses import random_pose_scale
from bench.methods.presets import load_model_params, preset_datasets
from tests.fixtures.make_official_tpsmm_losses import materialize  # the weight recipes, read as the generator wrote them
from bench.methods.tpsmm import TPS, TPSMM, AVDTrainOptions, build_tpsmm
from bench.training import TrainRequest, run_training
from bench.training.config import for_stage, load_train_config, train_config_path
from tests.fomm_mraa_reference import assert_within_tolerance, load_vgg19_trunk, relative_grad_error
from tests.reference import SPECS, tolerance
from tests.run_support import batchnorm_statistics_moved, learned_networks
from tests.test_train import TINY_TRAIN, _one_store_per_module, data_root, store  # noqa: F401 (its fixtures)
from tests.tiny_method import DATASET

FIXTURE = Path(__file__).with_name("fixtures") / "official-tpsmm-losses.pt"
MAIN_CASES = ("main_bg_dropout", "main_warmup")
#: the four official configs' train_params that this project keeps in model_params.training
OFFICIAL_TRAINING = {
    "vox": {"bg_start": 10, "dropout_epoch": 35, "dropout_maxp": 0.3, "dropout_startp": 0.1, "dropout_inc_epoch": 10},
    "taichi": {"bg_start": 0, "dropout_epoch": 35, "dropout_maxp": 0.7, "dropout_startp": 0.0, "dropout_inc_epoch": 10},
    "ted": {"bg_start": 0, "dropout_epoch": 35, "dropout_maxp": 0.5, "dropout_startp": 0.0, "dropout_inc_epoch": 10},
    "mgif": {"bg_start": 0, "dropout_epoch": 35, "dropout_maxp": 0.5, "dropout_startp": 0.2, "dropout_inc_epoch": 10},
}
PAPER = ("vox", "dfdc", "nemo", "fashion", "aist", "taichi", "bair", "mgif")


pytestmark = pytest.mark.usefixtures("one_thread")  # as the official-code fixtures were made


# ----------------------------------------------------------------------------- the official-code fixture

@pytest.fixture(scope="module")
def fx() -> dict[str, Any]:
    return torch.load(FIXTURE, weights_only=False)  # project material written by the official code


def assert_within_floors(fx: dict[str, Any], case: str, report: dict[str, float]) -> None:
    """Every error of ``report`` (keys ``loss/<term>``, ``loss_total``, ``grads/<net>`` (relative L2), outputs)
    within the README's rule applied to the noise floors the fixture records for ``case``."""
    assert_within_tolerance(fx["floors"][case], report, label=case)


def official_model(fx: dict[str, Any]):
    """Our TPSMM with the fixture's weights, loss weights and schedule, in train mode."""
    params = fx["train_params"]
    schedule = {k: params[k] for k in ("bg_start", "dropout_epoch", "dropout_maxp", "dropout_startp",
                                       "dropout_inc_epoch")}
    losses = {"scales": params["scales"], "transform_params": params["transform_params"],
              **params["loss_weights"], "pretrained_vgg": False}
    model = build_tpsmm({**fx["model_params"], "losses": losses, "training": schedule})
    for name, recipe in fx["recipes"].items():
        getattr(model, name).load_state_dict(materialize(recipe), strict=True)
    load_vgg19_trunk(model.perceptual.module().vgg, materialize(fx["perceptual_vgg19"]))
    return model.train()


def inputs(fx: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {k: v.float() for k, v in fx["inputs"].items()}  # stored as float16, used as float32 by both codes


def grad_error(net: torch.nn.Module, name: str, outputs: dict[str, Any]) -> float:
    sampled = {k: {**v, "index": v["index"].long()} for k, v in outputs["grads_sampled"].get(name, {}).items()}
    return relative_grad_error(net.named_parameters(), outputs["grads"].get(name, {}), sampled)


def feed_draws(monkeypatch, draws: dict[str, torch.Tensor]) -> None:
    """Make the TPS dropout and the equivariance loss use the fixture's random draws."""
    def uniform(batch, channels, generator=None):
        assert (batch, channels) == tuple(draws["dropout_uniform"].shape)
        return draws["dropout_uniform"].clone()

    def random_tps(like, params):
        grid = make_coordinate_grid((params.points_tps, params.points_tps)).unsqueeze(0)
        return TPS("random", draws["tps_theta"].clone(), grid, draws["tps_control_params"].clone())

    monkeypatch.setattr(tpsmm_networks, "dropout_uniform", uniform)
    monkeypatch.setattr(tpsmm_model, "random_tps", random_tps)


def record_calls(model) -> dict[str, list]:
    calls: dict[str, list] = {"kp_detector": [], "bg_predictor": [], "dense_motion_network": [],
                              "inpainting_network": []}
    for name, seen in calls.items():
        getattr(model, name).register_forward_hook(lambda m, i, o, seen=seen: seen.append(o))
    return calls


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.detach().float() - b.float()).abs().max().item()


@pytest.mark.parametrize("case", MAIN_CASES)
def test_training_losses_and_gradients_match_the_official_code(fx, case, monkeypatch):
    spec, out = fx["cases"][case], fx["cases"][case]["outputs"]
    model = official_model(fx)
    model.set_epoch(spec["epoch"])
    assert model.uses_bg() == spec["bg_used"]
    assert model.config.training.dropout_p(spec["epoch"]) == pytest.approx(spec["dropout_p"])
    feed_draws(monkeypatch, spec["random"])
    calls = record_calls(model)
    losses = model.losses(inputs(fx))
    assert list(losses) == list(out["losses"]), "the official terms, in the official order"
    report = {f"loss/{term}": abs(losses[term].item() - value.item()) for term, value in out["losses"].items()}
    total = sum(losses.values())  # what the trainer (and train.py) back-propagate, all weights 1
    report["loss_total"] = abs(total.item() - out["loss_total"].item())
    total.backward()

    nets = {n: getattr(model, n) for n in ("inpainting_network", "kp_detector", "dense_motion_network",
                                           "bg_predictor")}
    without = {f"{n}.{k}" for n, net in nets.items() for k, p in net.named_parameters() if p.grad is None}
    assert without == set(out["params_without_grad"])
    for name, net in nets.items():
        if name in out["grads"] and (out["grads"][name] or out["grads_sampled"][name]):
            report[f"grads/{name}"] = grad_error(net, name, out)
    assert bool(out["grads"]["bg_predictor"]) == spec["bg_used"], "the background predictor learns from bg_start"

    kp = [c["fg_kp"] for c in calls["kp_detector"]]  # source, driving, transformed driving
    expected = out["intermediates"]
    for i, key in enumerate(("kp_source", "kp_driving", "transformed_kp")):
        report[key] = max_abs(kp[i], expected[key])
    for i, (ours, theirs) in enumerate(zip(calls["bg_predictor"], expected["bg_calls"], strict=True)):
        report[f"bg_param/{i}"] = max_abs(ours, theirs)
    if "prediction" in expected:
        report["contribution_maps"] = max_abs(calls["dense_motion_network"][0]["contribution_maps"],
                                              expected["contribution_maps"])
        report["prediction"] = max_abs(calls["inpainting_network"][0]["prediction"], expected["prediction"])
    for name, buffers in out.get("buffers_after", {}).items():
        state = getattr(model, name).state_dict()
        report[f"buffers/{name}"] = max(max_abs(state[k], v) for k, v in buffers.items())
    print(f"\n{case} (epoch {spec['epoch']}): " + ", ".join(f"{k} {v:.2e}" for k, v in report.items()))
    assert_within_floors(fx, case, report)


@pytest.mark.parametrize("case", MAIN_CASES)
def test_seeded_training_draws_as_the_official_code_does(fx, case):
    """Without the stored draws, the same seed gives the official losses: the TPS dropout's uniforms, then
    the random TPS, drawn on the CPU in the official order and shapes."""
    spec, out = fx["cases"][case], fx["cases"][case]["outputs"]
    model = official_model(fx)
    model.set_epoch(spec["epoch"])
    torch.manual_seed(spec["seed"])
    with torch.no_grad():
        losses = model.losses(inputs(fx))
    atol = tolerance(fx["floors"][case], "losses")
    for term, value in out["losses"].items():
        assert abs(losses[term].item() - value.item()) <= atol, term


def test_avd_stage_matches_official_train_avd(fx, monkeypatch):
    spec, out = fx["cases"]["avd"], fx["cases"]["avd"]["outputs"]
    model = official_model(fx)
    x = inputs(fx)
    batch = {"source": torch.cat([x["source"], x["driving"]]), "driving": torch.cat([x["driving"], x["source"]])}
    uniform = spec["random"]["random_scale_uniform"]
    monkeypatch.setattr(torch, "rand", lambda *shape, **kw: uniform.clone())  # train_avd.random_scale's draw
    calls = record_calls(model)
    avd_io = []
    model.avd_network.register_forward_hook(lambda m, i, o: avd_io.append(o))
    params = fx["train_avd_params"]
    losses = model.stage_losses("avd", batch, AVDTrainOptions(random_scale=params["random_scale"]))
    assert set(losses) == {"rec_kp"}
    weighted = params["lambda_shift"] * losses["rec_kp"]
    report = {"loss/rec_kp": abs(weighted.item() - out["losses"]["rec_kp"].item())}
    weighted.backward()
    report["grads/avd_network"] = grad_error(model.avd_network, "avd_network", out)
    assert all(p.grad is None for p in model.kp_detector.parameters()), "the keypoints come under no_grad"
    report["kp_source"] = max_abs(calls["kp_detector"][0]["fg_kp"], out["kp_source"])
    report["kp_driving"] = max_abs(calls["kp_detector"][1]["fg_kp"], out["kp_driving"])
    report["rec"] = max_abs(avd_io[0]["fg_kp"], out["rec"])
    state = model.kp_detector.state_dict()  # train-mode BatchNorm statistics move, as in train_avd.py
    report["buffers/kp_detector"] = max(max_abs(state[k], v) for k, v in out["buffers_after"]["kp_detector"].items())
    print("\navd: " + ", ".join(f"{k} {v:.2e}" for k, v in report.items()))
    assert_within_floors(fx, "avd", report)


# ----------------------------------------------------------------------------- train.py's schedule

def small_params(**training: Any) -> dict[str, Any]:
    return {"common_params": {"num_tps": 2, "num_channels": 3, "bg": True, "multi_mask": True},
            "generator_params": {"block_expansion": 4, "max_features": 16, "num_down_blocks": 3},
            "dense_motion_params": {"block_expansion": 4, "max_features": 16, "num_blocks": 3, "scale_factor": 0.25},
            "avd_network_params": {"id_bottle_size": 8, "pose_bottle_size": 8},
            "losses": {"scales": [1.0, 0.5], "perceptual": [10, 10, 0, 0, 0], "pretrained_vgg": False},
            "training": {"bg_start": 2, "dropout_epoch": 4, "dropout_maxp": 0.3, "dropout_startp": 0.1,
                         "dropout_inc_epoch": 2, **training}}


def test_dropout_probability_and_background_warm_up_follow_the_epoch():
    with torch.device("meta"):
        vox = build_tpsmm(load_model_params("tpsmm", "vox"))
        mgif = build_tpsmm(load_model_params("tpsmm", "mgif"))
    schedule = vox.config.training
    # min(epoch / dropout_inc_epoch * dropout_maxp + dropout_startp, dropout_maxp) while epoch < dropout_epoch
    assert [schedule.dropout_p(e) for e in (0, 5, 6, 34, 35, 99)] == pytest.approx([0.1, 0.25, 0.28, 0.3, None, None])
    assert not vox.uses_bg(9) and vox.uses_bg(10)
    assert vox.epoch == 0, "epoch 0 until a trainer tells it"
    vox.set_epoch(12)
    assert vox.epoch == 12 and vox.uses_bg()
    assert not mgif.uses_bg(50), "bg: false has no background predictor"


def test_losses_follow_the_epoch(monkeypatch):
    torch.manual_seed(0)
    model = build_tpsmm(small_params()).train()
    batch = {"source": torch.rand(2, 3, 32, 32), "driving": torch.rand(2, 3, 32, 32)}
    seen = []
    original = tpsmm_networks.DenseMotionNetwork.dropout_softmax
    monkeypatch.setattr(tpsmm_networks.DenseMotionNetwork, "dropout_softmax",
                        staticmethod(lambda x, p, generator=None: seen.append(p) or original(x, p, generator)))
    with pytest.warns(RuntimeWarning, match="did not tell it the epoch"):
        first = model.losses(batch)
    assert set(first) == {"perceptual", "equivariance_value", "warp_loss"} and seen == [0.1], "epoch 0"
    sum(first.values()).backward()
    assert all(p.grad is None for p in model.bg_predictor.parameters()), "before bg_start: not used"
    for epoch, dropout in ((1, 0.25), (2, 0.3), (4, None)):
        model.set_epoch(epoch)
        seen.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # told the epoch: no warning
            losses = model.losses(batch)
        assert seen == ([] if dropout is None else [pytest.approx(dropout)])
        assert ("bg" in losses) == (epoch >= 2)
    model.zero_grad(set_to_none=True)
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.bg_predictor.parameters()), "from bg_start it learns"
    with torch.no_grad():  # reconstruction always uses the background predictor (reconstruction.py)
        assert model.forward_details(batch["source"], batch["driving"])["bg_param"] is not None


def test_before_optimizer_step_is_train_py_clipping_then_adam_weight_decay():
    """train.py: clip_grad_norm_(max_norm=10, norm_type=inf) of kp_detector, dense_motion_network and (from
    bg_start) bg_predictor, not of inpainting_network; Adam(weight_decay=1e-4). Ours: the hook, then an Adam
    without weight decay (the trainer's): the same update."""
    torch.manual_seed(0)
    ours = build_tpsmm(small_params(bg_start=1)).train()
    grads = {n: torch.randn_like(p) * 40 for n, p in ours.named_parameters() if not n.startswith("avd_network")}

    def with_grads():  # deepcopy does not copy .grad
        model = copy.deepcopy(ours)
        for n, p in model.named_parameters():
            p.grad = grads[n].clone() if n in grads else None
        return model

    for epoch in (0, 1):
        a, b = with_grads(), with_grads()
        a.set_epoch(epoch)
        a.before_optimizer_step("main")
        for name in ("kp_detector", "dense_motion_network") + (("bg_predictor",) if epoch >= 1 else ()):
            torch.nn.utils.clip_grad_norm_(getattr(b, name).parameters(), max_norm=10, norm_type=math.inf)
        clipped = max(p.grad.abs().max() for p in a.kp_detector.parameters())
        assert clipped <= 10 + 1e-4, "clipped to an infinity norm of 10"
        weight = a.inpainting_network.first.conv.weight
        assert torch.equal(weight.grad, grads["inpainting_network.first.conv.weight"] + 1e-4 * weight), \
            "the inpainting network is not clipped; every gradient gets the L2 term"
        bg_grad = a.bg_predictor.bg_encoder.conv1.weight.grad
        assert (bg_grad.abs().max() > 10) == (epoch == 0), "the background predictor is clipped from bg_start"
        adam_ours = torch.optim.Adam([p for p in a.parameters() if p.grad is not None], lr=2e-4, betas=(0.5, 0.999))
        adam_official = torch.optim.Adam([p for p in b.parameters() if p.grad is not None], lr=2e-4,
                                         betas=(0.5, 0.999), weight_decay=1e-4)
        adam_ours.step()
        adam_official.step()
        for (n, p), q in zip(a.named_parameters(), b.parameters()):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-7, msg=n)
    c = with_grads()
    c.before_optimizer_step("avd")  # train_avd.py: a plain Adam, no clipping
    assert all(torch.equal(p.grad, grads[n]) for n, p in c.named_parameters() if n in grads)


def test_one_adam_is_the_official_separate_background_optimiser():
    """train.py gives the background predictor an Adam of its own (same lr, betas, weight decay, schedule)
    that steps from bg_start. Adam keeps per-parameter state and skips parameters without a gradient, so
    one Adam over every parameter moves them identically: nothing before bg_start, and bias correction
    counted from the first step with a gradient."""
    torch.manual_seed(0)
    net, bg = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    net2, bg2 = copy.deepcopy(net), copy.deepcopy(bg)
    one = torch.optim.Adam(list(net.parameters()) + list(bg.parameters()), lr=0.1, betas=(0.5, 0.999))
    main = torch.optim.Adam(net2.parameters(), lr=0.1, betas=(0.5, 0.999))
    own = torch.optim.Adam(bg2.parameters(), lr=0.1, betas=(0.5, 0.999))
    x = torch.randn(4, 3)
    for step in range(5):
        use_bg = step >= 2  # bg_start
        for n, b, optimisers in ((net, bg, [one]), (net2, bg2, [main] + ([own] if use_bg else []))):
            for o in optimisers:
                o.zero_grad(set_to_none=True)
            loss = n(x).square().mean() + (b(x).abs().mean() if use_bg else 0)
            loss.backward()
            for o in optimisers:
                o.step()
    for p, q in zip(list(net.parameters()) + list(bg.parameters()), list(net2.parameters()) + list(bg2.parameters())):
        assert torch.equal(p, q)


def test_training_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="training.dropout_inc_epoch"):
        build_tpsmm(small_params(dropout_inc_epoch=0))
    with pytest.raises(ConfigError, match="training.dropout_maxp"):
        build_tpsmm(small_params(dropout_maxp=1.5))
    with pytest.raises(ConfigError, match="training.max_grad_norm"):
        build_tpsmm(small_params(max_grad_norm=0))
    with pytest.raises(ConfigError, match="losses.perceptual"):
        build_tpsmm({**small_params(), "losses": {"perceptual": [1, 2]}})
    with pytest.raises(ConfigError, match="training.bg_strat"):
        build_tpsmm({**small_params(), "training": {"bg_strat": 3}})
    assert build_tpsmm(small_params(dropout_epoch=0, dropout_inc_epoch=0)).config.training.dropout_p(0) is None


def test_tps_fits_and_warps_in_float32_under_mixed_precision():
    """In float16 the kernel's 1e-9 underflows (0 * log(0) = NaN on a control point) and torch.inverse has no
    half kernel: the TPS runs in float32 whatever its inputs."""
    torch.manual_seed(0)
    kp_1 = torch.rand(2, 3, 5, 2) * 1.6 - 0.8
    kp_2 = kp_1 + 0.05 * torch.randn_like(kp_1)
    full = TPS.from_keypoints(kp_1, kp_2)
    half = TPS.from_keypoints(kp_1.half(), kp_2.half())
    assert half.theta.dtype == torch.float32
    torch.testing.assert_close(half.sampling_grid((8, 8), torch.float16), full.sampling_grid((8, 8)), atol=2e-3, rtol=0)
    on_control_points = full.warp_coordinates(kp_1.reshape(2, 15, 2).half())
    assert on_control_points.dtype == torch.float32 and torch.isfinite(on_control_points).all()
    model = build_tpsmm(small_params(bg_start=0)).train()
    model.set_epoch(0)
    batch = {"source": torch.rand(2, 3, 32, 32), "driving": torch.rand(2, 3, 32, 32)}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = model.losses(batch)
    assert all(torch.isfinite(v) for v in losses.values())


# ----------------------------------------------------------------------------- AVD stage and animation

def test_avd_stage_declares_the_avd_network_and_the_animation_default():
    torch.manual_seed(0)
    model = build_tpsmm(small_params()).eval()
    assert [(s.name, s.networks) for s in model.stages] == [("avd", ("avd_network",))]
    assert model.animation_mode() == "relative", "an untrained AVD network: relative (demo.py's default)"
    model.config.animation.mode = "avd"
    with pytest.raises(UserError, match="needs a trained AVD network.*--stage avd"):
        model.animate(torch.rand(1, 3, 32, 32), torch.rand(2, 3, 32, 32), torch.rand(1, 3, 32, 32))
    model.config.animation.mode = None
    model.mark_stage_trained("avd")
    assert model.animation_mode() == "avd"
    source, driving = torch.rand(1, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = model.animate(source, driving, driving[:1])
        details = model.animate_details(source, driving, driving[:1], "avd")
        sample = model.sample(source.expand(2, -1, -1, -1), driving, stage="avd")
    torch.testing.assert_close(out, details["prediction"])
    assert sample.shape == driving.shape
    # the flag is model state: it survives a state_dict round trip, and older checkpoints load with it False
    state = model.state_dict()
    assert bool(state["trained_avd"])
    fresh = build_tpsmm(small_params())
    fresh.load_state_dict({k: v for k, v in state.items() if k != "trained_avd"})
    assert not fresh.stage_trained("avd")


def test_random_pose_scale_is_train_avd_random_scale():
    torch.manual_seed(3)
    kp = {"fg_kp": torch.rand(4, 10, 2) * 2 - 1}
    torch.manual_seed(7)
    scaled = random_pose_scale(kp, 0.25)["fg_kp"]
    torch.manual_seed(7)
    theta = torch.diag_embed(torch.rand(4, 2) * 0.5 + 0.75).unsqueeze(1)  # the official expression
    torch.testing.assert_close(scaled, torch.matmul(theta, kp["fg_kp"].unsqueeze(-1)).squeeze(-1), rtol=0, atol=0)


# ----------------------------------------------------------------------------- official checkpoints

def official_checkpoint(model, *names: str) -> dict[str, Any]:
    nets = model.networks()
    out: dict[str, Any] = {name: nets[name].state_dict() for name in names}
    out.update(optimizer={"state": {}, "param_groups": []}, epoch=99)
    return out


def test_official_checkpoints_may_lack_the_optional_networks(tmp_path):
    torch.manual_seed(1)
    source = build_tpsmm(small_params())
    with torch.no_grad():
        source.bg_predictor.bg_encoder.fc.weight.normal_(0, 0.1)
    params = small_params()
    # train.py before bg_start: no bg_predictor, no avd_network
    early = official_checkpoint(source, "inpainting_network", "kp_detector", "dense_motion_network")
    model = build_method("tpsmm", params, early, official=True)
    assert not model.training and model.animation_mode() == "relative"
    torch.testing.assert_close(model.kp_detector.state_dict(), source.kp_detector.state_dict())
    frames = torch.rand(2, 3, 32, 32)
    with torch.no_grad():  # an absent background predictor keeps its identity initialisation, as officially
        torch.testing.assert_close(model.bg_predictor(frames, frames.flip(0)), torch.eye(3).expand(2, 3, 3))
    # train_avd.py: everything, saved with torch.save as a .pth.tar, read with weights_only
    path = tmp_path / "00000099-checkpoint.pth.tar"
    torch.save(official_checkpoint(source, "inpainting_network", "kp_detector", "dense_motion_network",
                                   "bg_predictor", "avd_network") | {"optimizer_avd": {"state": {}}}, path)
    full = build_method("tpsmm", params, path, official=True)
    torch.testing.assert_close(full.bg_predictor.state_dict(), source.bg_predictor.state_dict())
    assert full.stage_trained("avd") and full.animation_mode() == "avd", "an official AVD network: avd animation"
    # the required ones stay required, and a wrong shape is one line
    with pytest.raises(CheckpointError, match="checkpoint has no 'kp_detector'.*bg_predictor \\(optional\\)"):
        build_method("tpsmm", params, official_checkpoint(source, "inpainting_network", "dense_motion_network"), official=True)
    bad = official_checkpoint(source, "inpainting_network", "kp_detector", "dense_motion_network", "avd_network")
    other = {**params, "avd_network_params": {"id_bottle_size": 4, "pose_bottle_size": 8}}
    bad["avd_network"] = build_tpsmm(other).avd_network.state_dict()
    with pytest.raises(CheckpointError, match="'avd_network' does not match the config: wrong shape"):
        build_method("tpsmm", params, bad, official=True)


def test_fomm_and_mraa_stay_strict():
    assert METHODS.get("tpsmm").official and METHODS.get("tpsmm").title == "TPSMM"
    config = load_model_params("mraa", "synthetic")
    mraa = build_method("mraa", config)
    partial = {n: net.state_dict() for n, net in mraa.networks().items() if n != "avd_network"}
    with pytest.raises(CheckpointError, match="checkpoint has no 'avd_network'"):
        build_method("mraa", config, partial, official=True)
    assert not getattr(mraa, "optional_networks", ())


def test_bench_run_official_tpsmm_checkpoint(tmp_path):
    """``bench run --method tpsmm --official --checkpoint X.pth.tar --config FILE.yaml`` as for FOMM and MRAA:
    a file without the optional sub-networks, read with weights_only, evaluated as build_method(..., official=True) builds it."""
    from bench.cli import main
    from tests.run_support import first_video_l1, summary

    torch.manual_seed(0)
    params = {**small_params(), "losses": {}, "training": {}}
    params = {k: v for k, v in params.items() if k not in ("losses", "training")}
    config = tmp_path / "tiny-tpsmm.yaml"  # an official-style YAML: model_params among other sections
    config.write_text(yaml.safe_dump({"dataset_params": {"root_dir": "x"}, "model_params": params,
                                      "train_params": {"num_epochs": 1}}))
    checkpoint = tmp_path / "tiny.pth.tar"
    contents = official_checkpoint(build_tpsmm(params), "inpainting_network", "kp_detector", "dense_motion_network")
    torch.save(contents, checkpoint)
    out = tmp_path / "out"
    assert main(["run", "--method", "tpsmm", "--official", "--checkpoint", str(checkpoint), "--config", str(config),
                 "--dataset", "synthetic", "--task", "reconstruction", "--max-videos", "1", "--refs", "0",
                 "--metrics", "l1", "--no-track", "--out", str(out)]) == 0
    expected = first_video_l1(build_method("tpsmm", params, contents, official=True))
    assert summary(out)["means"]["l1"] == pytest.approx(expected, abs=1e-5)


# ----------------------------------------------------------------------------- presets and strategies

def test_every_dataset_has_a_model_preset_and_a_valid_strategy():
    names = [n for n in DATASETS.names() if not n.startswith("tiny-test")]
    assert set(PAPER) <= set(names) and set(names) <= set(preset_datasets("tpsmm"))
    for name in names + ["ted"]:
        with torch.device("meta"):
            build_tpsmm(load_model_params("tpsmm", name))
    for name in names:
        assert train_config_path("tpsmm", name).is_file(), name
        config = load_train_config("tpsmm", name)
        avd = for_stage(config, "avd")
        if name != "synthetic":
            assert (config.lr, config.batch_size, config.sync_bn) == (pytest.approx(2e-4), 28, False), name
            assert (avd.batch_size, avd.lr) == (256, pytest.approx(1e-3)), name
        assert config.betas == [0.5, 0.999] and config.gamma == pytest.approx(0.1), name
        assert max(config.epoch_milestones) < config.num_epochs, name
        assert avd.loss_weights == {"rec_kp": 1} and avd.options == {"random_scale": 0.25}, name
        assert avd.augmentation == config.augmentation and avd.id_sampling == config.id_sampling, name
    load_train_config(file=train_config_path("tpsmm", "ted"))  # for --train-config (not a registered dataset)


@pytest.mark.parametrize("name, repeats, batch, id_sampling, avd", [
    ("vox", 75, 28, True, (200, 300, [141, 181])),     # config/vox-256.yaml (AVD milestones [140, 180] + 1)
    ("taichi", 150, 28, True, (100, 150, [71, 91])),   # config/taichi-256.yaml
    ("ted", 150, 12, True, (30, 500, [21, 26])),       # config/ted-384.yaml
    ("mgif", 50, 28, False, (100, 50, [71, 91])),      # config/mgif-256.yaml
])
def test_strategies_and_presets_carry_the_official_values(shared_dir, name, repeats, batch, id_sampling, avd):
    config = load_train_config(file=train_config_path("tpsmm", name))
    assert (config.num_epochs, config.num_repeats, config.epoch_milestones, config.batch_size, config.id_sampling,
            config.checkpoint_every) == (100, repeats, [70, 90], batch, id_sampling, 50)
    stage = for_stage(config, "avd")
    assert (stage.num_epochs, stage.num_repeats, stage.epoch_milestones) == avd
    params = load_model_params("tpsmm", name)
    assert params["training"] == OFFICIAL_TRAINING[name]
    config_name = {"vox": "vox-256", "taichi": "taichi-256", "ted": "ted-384", "mgif": "mgif-256"}[name]
    spec = SPECS / f"tpsmm-{config_name}.json"
    if spec.is_file():  # the official model_params, the extra sections aside
        official = json.loads(spec.read_text())["model_params"]
        assert {k: v for k, v in params.items() if k in official} == official
        assert set(params) - set(official) == {"training"}
    with torch.device("meta"):
        built = build_tpsmm(params)
    assert built.config.losses.perceptual == [10.0] * 5 and built.config.losses.scales == [1, 0.5, 0.25, 0.125]
    losses = built.config.losses
    assert (losses.equivariance_value, losses.warp_loss, losses.bg) == (10, 10, 10)
    assert (built.config.training.max_grad_norm, built.config.training.weight_decay) == (10, pytest.approx(1e-4))


def test_derived_presets_name_their_source():
    for name, source in (("dfdc", "vox-256"), ("nemo", "vox-256"), ("fashion", "taichi-256"),
                         ("aist", "taichi-256"), ("bair", "taichi-256")):
        model_header = train_config_path("tpsmm", name).parents[2].joinpath("methods", "tpsmm", f"{name}.yaml")
        for path in (model_header, train_config_path("tpsmm", name)):
            head = path.read_text().split("\n\n")[0]
            assert "TPSMM has no" in head and "config" in head, path
        assert f"config/{source}.yaml" in model_header.read_text()
        params, base = load_model_params("tpsmm", name), load_model_params("tpsmm", source.split("-")[0])
        def architecture(p):
            return {k: v for k, v in p.items() if k != "training"}
        assert architecture(params) == architecture(base)
    assert load_model_params("tpsmm", "bair")["training"]["dropout_epoch"] == 7, "35 of 100 epochs -> 7 of 20"


# ----------------------------------------------------------------------------- bench train --stage avd

TINY = {"common_params": {"num_tps": 2, "num_channels": 3, "bg": True, "multi_mask": True},
        "generator_params": {"block_expansion": 4, "max_features": 16, "num_down_blocks": 3},
        "dense_motion_params": {"block_expansion": 4, "max_features": 16, "num_blocks": 3, "scale_factor": 0.5},
        "avd_network_params": {"id_bottle_size": 8, "pose_bottle_size": 8},
        "losses": {"scales": [1.0, 0.5], "perceptual": [10, 10, 0, 0, 0], "pretrained_vgg": False},
        "training": {"bg_start": 1, "dropout_epoch": 1, "dropout_maxp": 0.3, "dropout_startp": 0.1,
                     "dropout_inc_epoch": 1}}
STRATEGY = {**TINY_TRAIN, "num_epochs": 1, "num_repeats": 2, "lr": 1e-3, "sample_every": 100,
            "stages": {"avd": {"num_epochs": 2, "num_repeats": 4, "epoch_milestones": [1], "batch_size": 4,
                               "lr": 1e-3, "loss_weights": {"rec_kp": 1}, "sample_every": 2,
                               "options": {"random_scale": 0.25}}}}


def test_bench_train_avd_stage_trains_only_the_avd_network(data_root, tmp_path):  # noqa: F811 (fixture)
    model_file, train_file = tmp_path / "tpsmm.yaml", tmp_path / "train.yaml"
    model_file.write_text(yaml.safe_dump({"model_params": TINY}))
    train_file.write_text(yaml.safe_dump(STRATEGY))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a trainer that does not report the epoch
        main = run_training(TrainRequest(method="tpsmm", dataset=DATASET, root=data_root, config=model_file,
                                         train_config=train_file, out=tmp_path / "run", device="cpu"))
    before = load_checkpoint(main.checkpoint)
    assert before["stage"] == "main" and not before["model"]["trained_avd"]
    assert build_method(checkpoint=main.checkpoint).animation_mode() == "relative"

    stage = run_training(TrainRequest(stage="avd", resume=tmp_path / "run", device="cpu", root=data_root))
    after = load_checkpoint(stage.checkpoint)
    assert (after["stage"], after["epoch"]) == ("avd", 2) and bool(after["model"]["trained_avd"])
    assert learned_networks(before["model"], after["model"]) == {"avd_network"}, "only the AVD network learns"
    assert batchnorm_statistics_moved(before["model"], after["model"], "kp_detector"), \
        "the keypoint detector runs in train mode (BatchNorm statistics move), as train_avd.py"
    trained = build_method(checkpoint=stage.checkpoint)
    assert trained.animation_mode() == "avd", "a trained AVD network: avd animation"


needs_trainer_hooks = pytest.mark.skipif(
    not hasattr(Method, "before_optimizer_step"),
    reason="the trainer does not call Method.set_epoch / Method.before_optimizer_step (trainer hooks not applied)")


@needs_trainer_hooks
def test_bench_train_follows_the_epoch_schedule(data_root, tmp_path, monkeypatch):  # noqa: F811 (fixture)
    """With the trainer's hooks: no background term before bg_start, the TPS dropout only before
    dropout_epoch, train.py's clipping and weight decay before every main-stage step, none in the AVD stage."""
    steps: list[tuple[int, str]] = []
    original = TPSMM.before_optimizer_step

    def hook(self, stage="main"):
        steps.append((self.epoch, stage))
        return original(self, stage)

    monkeypatch.setattr(TPSMM, "before_optimizer_step", hook)
    seen: list[tuple[int, frozenset]] = []
    model_file, train_file = tmp_path / "tpsmm.yaml", tmp_path / "train.yaml"
    model_file.write_text(yaml.safe_dump({"model_params": TINY}))
    train_file.write_text(yaml.safe_dump({**STRATEGY, "num_epochs": 2}))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*did not tell it the epoch")
        run_training(TrainRequest(method="tpsmm", dataset=DATASET, root=data_root, config=model_file,
                                  train_config=train_file, out=tmp_path / "run", device="cpu",
                                  callbacks=[lambda trainer, values: seen.append((trainer.epoch, frozenset(values)))]))
    assert [e for e, _ in seen] == [0, 0, 1, 1] and steps == [(0, "main"), (0, "main"), (1, "main"), (1, "main")]
    assert all(("bg" in terms) == (epoch >= 1) for epoch, terms in seen), "the background term from bg_start"
    steps.clear()
    run_training(TrainRequest(stage="avd", resume=tmp_path / "run", device="cpu", root=data_root))
    assert steps and {stage for _, stage in steps} == {"avd"}
