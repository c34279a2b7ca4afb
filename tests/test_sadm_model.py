"""SADM model: toggles, multi-view fusion, relative animation, losses, configs."""
from __future__ import annotations

import copy

import pytest
import torch

from bench.config import apply_overrides, config_path, load_yaml
from bench.errors import ConfigError, UserError
from bench.methods import METHODS, build_method
from bench.methods.fomm import normalize_kp
from bench.methods.sadm import SADM, build_sadm, parse_config
from bench.methods.sadm.motion import combine_displacements, keypoint_displacements

SIZE = 32
TINY = {
    "num_kp": 4,
    "num_refs": 0,
    "keypoint_detector": {"block_expansion": 8, "max_features": 32, "num_blocks": 3, "scale_factor": 0.5},
    "coefficient_network": {"block_expansion": 8, "max_features": 32, "num_blocks": 3, "scale_factor": 0.5},
    "evolution": {"hidden_channels": 8, "method": "rk4", "steps": 2},
    "generator": {"block_expansion": 8, "max_features": 32, "num_down_blocks": 2, "num_bottleneck_blocks": 1},
    "appearance_flow": {"block_expansion": 8, "max_features": 32, "num_blocks": 2},
    "losses": {"scales": [1.0, 0.5], "pretrained_vgg": False},
}


def tiny(*overrides: str, seed: int = 0) -> SADM:
    torch.manual_seed(seed)
    return build_sadm(apply_overrides(TINY, list(overrides))).eval()


def frames(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(*shape, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def load_shared(dst: SADM, src: SADM) -> None:
    """Copy every parameter/buffer of ``src`` that ``dst`` also has with the same shape."""
    own = dst.state_dict()
    dst.load_state_dict({k: v for k, v in src.state_dict().items() if k in own and own[k].shape == v.shape},
                        strict=False)


def perturb_evolution(model: SADM) -> None:
    with torch.no_grad():
        model.evolution.dynamics.convs[-1].weight.normal_(0, 0.5)


def test_registered_and_built_from_every_shipped_preset():
    assert "sadm" in METHODS
    for name in ("vox", "dfdc", "nemo", "fashion", "aist", "taichi", "bair", "mgif", "synthetic"):
        cfg = parse_config(load_yaml(config_path("methods", "sadm", f"{name}.yaml"))["model_params"])
        assert 0 <= cfg.num_refs <= 6
    model = build_method("sadm", load_yaml(config_path("methods", "sadm", "synthetic.yaml"))["model_params"])
    assert model.name == "sadm" and model.uses_refs and model.num_parameters() > 0


@pytest.mark.parametrize("override,key", [("num_refs=7", "num_refs"), ("evolution.method=leapfrog", "evolution.method"),
                                          ("evolution.stepz=3", "evolution.stepz"), ("appearance_assist=maybe", "appearance_assist")])
def test_config_errors_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        build_sadm(apply_overrides(TINY, [override]))


def test_coarse_field_is_the_coefficient_weighted_sum_with_zero_background():
    kp_s, kp_d = torch.rand(2, 3, 2), torch.rand(2, 3, 2)
    deltas = keypoint_displacements(kp_s, kp_d)
    assert deltas.shape == (2, 4, 2) and torch.equal(deltas[:, 0], torch.zeros(2, 2))
    # all weight on the background: no motion; all weight on keypoint i: a uniform shift by Delta^i
    onehot = torch.zeros(2, 4, 5, 5)
    onehot[:, 0] = 1
    assert torch.equal(combine_displacements(onehot, deltas), torch.zeros(2, 2, 5, 5))
    onehot = torch.zeros(2, 4, 5, 5)
    onehot[:, 2] = 1
    torch.testing.assert_close(combine_displacements(onehot, deltas), (kp_s - kp_d)[:, 1, :, None, None].expand(2, 2, 5, 5))


@pytest.mark.parametrize("n", range(7))
def test_outputs_are_finite_images_for_every_number_of_references(n):
    model = tiny(f"num_refs={n}")
    with torch.no_grad():
        out = model.forward_views(frames(2, 3), model.kp_detector(frames(2, 3, seed=2)), frames(2, n, 3, seed=3))
    assert out.prediction.shape == (2, 3, SIZE, SIZE)
    assert torch.isfinite(out.prediction).all() and out.prediction.min() >= 0 and out.prediction.max() <= 1
    assert out.confidence.shape[:2] == (2, n + 1)
    torch.testing.assert_close(out.confidence.sum(dim=1), torch.ones_like(out.confidence[:, 0]))
    assert (out.confidence > 0).all()
    assert out.nfe == 8  # rk4, 2 steps


def test_motion_evolution_off_equals_running_on_the_coarse_field():
    on, off = tiny(), tiny("motion_evolution=false")
    assert {k for k, _ in on.named_parameters()} - {k for k, _ in off.named_parameters()} == \
        {k for k, _ in on.named_parameters() if k.startswith("evolution.")}
    load_shared(off, on)
    src, drv = frames(1, 3), frames(1, 3, seed=2)
    with torch.no_grad():
        same_on, same_off = on.forward_views(src, on.kp_detector(drv)), off.forward_views(src, off.kp_detector(drv))
        assert off.last_nfe == 0 and same_on.nfe == 8
        # zero-initialised F_E: the evolved field is the coarse field, so both models agree exactly
        assert torch.equal(same_on.field, same_on.coarse_field)
        assert torch.equal(same_on.prediction, same_off.prediction)
        perturb_evolution(on)
        moved = on.forward_views(src, on.kp_detector(drv))
    assert torch.equal(moved.coarse_field, same_on.coarse_field)
    assert (moved.field - moved.coarse_field).abs().max() > 1e-3
    assert not torch.allclose(moved.prediction, same_off.prediction)


def test_appearance_assist_off_removes_exactly_the_appearance_branch():
    on, off = tiny(), tiny("appearance_assist=false")
    names_on = {k for k, _ in on.named_parameters()}
    names_off = {k for k, _ in off.named_parameters()}
    assert names_off < names_on
    assert names_on - names_off == {k for k in names_on if k.startswith("generator.appearance.")}
    width = on.generator.fuse.conv.weight.shape[0]
    assert on.generator.fuse.conv.weight.shape[1] == 2 * width and off.generator.fuse.conv.weight.shape[1] == width
    # silence the appearance half of the fusion layer: the rest of the network is the assist-off model
    load_shared(off, on)
    with torch.no_grad():
        off.generator.fuse.conv.weight.copy_(on.generator.fuse.conv.weight[:, :width])
        on.generator.fuse.conv.weight[:, width:] = 0
        src, drv = frames(1, 3), frames(1, 3, seed=2)
        torch.testing.assert_close(on.generate(src, drv), off.generate(src, drv), rtol=0, atol=1e-6)


def decoder_input(model: SADM, *args) -> torch.Tensor:
    """The fused features that enter the decoder (more sensitive than the random-init output image)."""
    seen = []
    handle = model.generator.fuse.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    try:
        with torch.no_grad():
            model.generate(*args)
    finally:
        handle.remove()
    return seen[0]


def test_num_refs_changes_only_the_fusion():
    solo, multi = tiny("num_refs=0"), tiny("num_refs=3")
    assert {k: v.shape for k, v in solo.state_dict().items()} == {k: v.shape for k, v in multi.state_dict().items()}
    multi.load_state_dict(solo.state_dict())
    src, drv = frames(2, 3), frames(2, 3, seed=2)
    refs = frames(2, 3, 3, seed=3)
    alone = decoder_input(solo, src, drv)
    # references identical to the source add no information: same features as source-only
    copies = decoder_input(multi, src, drv, src.unsqueeze(1).expand(-1, 3, -1, -1, -1).contiguous())
    torch.testing.assert_close(copies, alone, rtol=0, atol=1e-5)
    fused = decoder_input(multi, src, drv, refs)
    assert (fused - alone).abs().max() > 1e-2
    # fusion is symmetric in the references
    torch.testing.assert_close(decoder_input(multi, src, drv, refs[:, [2, 0, 1]]), fused, rtol=0, atol=1e-5)
    # only the first num_refs references are used; num_refs=0 ignores references
    assert torch.equal(decoder_input(multi, src, drv, torch.cat([refs, frames(2, 2, 3, seed=4)], dim=1)), fused)
    assert torch.equal(decoder_input(solo, src, drv, refs), alone)


def test_missing_references_are_a_clear_error():
    model = tiny("num_refs=3")
    with pytest.raises(UserError, match="num_refs=3"):
        model.generate(frames(1, 3), frames(1, 3))
    with pytest.raises(UserError, match="N >= 3"):
        model.generate(frames(1, 3), frames(1, 3), frames(1, 2, 3))


def test_animation_without_driving_motion_reconstructs_the_source_path():
    model = tiny("num_refs=2")
    src, drv, refs = frames(1, 3), frames(1, 3, seed=2), frames(1, 2, 3, seed=3)
    with torch.no_grad():
        still = model.animate(src, drv, drv, refs)
        itself = model.generate(src, src, refs)
        moved = model.animate(src, drv, frames(1, 3, seed=5), refs)
    torch.testing.assert_close(still, itself, rtol=0, atol=1e-6)
    assert (moved - still).abs().max() > 1e-5


@pytest.mark.parametrize("animation", [{}, {"adapt_movement_scale": True}, {"use_relative_movement": False}])
def test_animation_moves_source_keypoints_as_fomms_normalize_kp(animation):
    """``config.animation`` holds FOMM's official normalization_params (no scaling, relative movement)."""
    model = tiny(*(f"animation.{k}={v}" for k, v in animation.items()))
    calls = []
    original = model.forward_views

    def spy(source, kp_target, refs=None):
        calls.append(kp_target)
        return original(source, kp_target, refs)

    model.forward_views = spy
    src, drv, init = frames(1, 3), frames(1, 3, seed=2), frames(1, 3, seed=3)
    with torch.no_grad():
        model.animate(src, drv, init)
        kp = [model.kp_detector(x) for x in (src, drv, init)]
    expected = normalize_kp({"value": kp[0]}, {"value": kp[1]}, {"value": kp[2]}, **animation)["value"]
    torch.testing.assert_close(calls[0], expected, rtol=0, atol=0)
    if not animation:
        torch.testing.assert_close(calls[0], kp[0] + (kp[1] - kp[2]), rtol=0, atol=0)


def test_losses_are_weighted_finite_and_train_every_network():
    model = tiny("num_refs=1", "losses.equivariance_weight=3.0").train()
    batch = {"source": frames(2, 3), "driving": frames(2, 3, seed=2), "refs": frames(2, 1, 3, seed=3)}
    losses = model.losses(batch)
    assert set(losses) == {"perceptual", "equivariance"}
    assert all(torch.isfinite(v) and v.item() > 0 for v in losses.values())
    assert model.last_nfe == 8
    sum(losses.values()).backward()  # adjoint solve in training mode
    missing = [k for k, p in model.named_parameters() if p.grad is None]
    assert not missing
    for prefix in ("kp_detector.", "coefficient_network.", "evolution.dynamics.convs.2", "generator.appearance.flow",
                   "generator.final"):
        assert any(p.grad.abs().sum() > 0 for k, p in model.named_parameters() if k.startswith(prefix)), prefix
    assert not any(k.startswith("perceptual") or "vgg" in k for k in model.state_dict())
    # lambda scales the equivariance term only
    torch.manual_seed(7)
    a = model.losses(batch)
    model.config.losses.equivariance_weight = 6.0
    torch.manual_seed(7)
    b = model.losses(batch)
    torch.testing.assert_close(b["equivariance"], 2 * a["equivariance"])
    torch.testing.assert_close(b["perceptual"], a["perceptual"])
    # the optional pixel term (off by default) adds weight x mean |prediction - driving| and nothing else
    model.config.losses.pixel_l1 = 4.0
    torch.manual_seed(7)
    c = model.losses(batch)
    with torch.no_grad():
        prediction = model.forward_views(batch["source"], model.kp_detector(batch["driving"]), batch["refs"]).prediction
    torch.testing.assert_close(c["pixel_l1"], 4.0 * (prediction - batch["driving"]).abs().mean())
    torch.testing.assert_close(c["perceptual"], b["perceptual"])


def test_adjoint_and_direct_training_steps_give_the_same_gradients():
    """End to end (every network upstream of the field gets its gradient through the adjoint)."""
    model = tiny("evolution.steps=8").double().train()
    perturb_evolution(model)
    direct = copy.deepcopy(model)
    direct.evolution.config.adjoint = False
    assert model.evolution.config.adjoint
    src, drv = frames(2, 3).double(), frames(2, 3, seed=2).double()
    grads = []
    for m in (model, direct):
        m.zero_grad()
        (m.generate(src, drv) - drv).abs().mean().backward()
        grads.append({k: p.grad for k, p in m.named_parameters()})
    # error relative to each tensor's largest entry (biases right before a batch norm have a zero
    # true gradient: only rounding noise there); the error is the solver's O(h^4) discretisation
    for k, g in grads[1].items():
        assert (grads[0][k] - g).abs().max() <= 1e-3 * g.abs().max() + 1e-12, k


def test_configs_with_the_perceptual_keys_of_release_one_still_parse():
    """SADM's perceptual-loss keys became FOMM's (scales, perceptual); checkpoints of 0.1 name them otherwise."""
    from bench.methods.sadm.config import parse_config

    old = parse_config({"losses": {"perceptual_scales": [1.0, 0.5], "perceptual_weights": [1, 2, 3, 4, 5]}})
    assert old.losses.scales == [1.0, 0.5] and old.losses.perceptual == [1, 2, 3, 4, 5]
    with pytest.raises(UserError, match="'losses.perceptual': needs 5 weights"):
        parse_config({"losses": {"perceptual": [1.0]}})
