"""LIA training: one official training step (``tests/fixtures/official-lia-losses.pt``, made by
``make_official_lia.py`` with ``trainer.py``), the optimisers of the shipped strategies, ``bench train`` with the
discriminator's own Adam, and ``bench run`` on the synthetic set with a trained and an official-format checkpoint."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from bench.checkpoints import load_checkpoint
from bench.cli import main
from bench.datasets import DATASETS
from bench.methods import build_method
from bench.methods.lia import LIA, build_lia
from bench.methods.presets import load_model_params
from bench.training import TrainRequest, run_training
from bench.training.config import load_train_config, train_config_path
from tests.fixtures.make_official_tpsmm_losses import materialize
from tests.fomm_mraa_reference import load_vgg19_trunk, relative_grad_error
from tests.run_support import frames01, summary, synthetic_videos
from tests.test_train import TINY_TRAIN, _one_store_per_module, data_root, store  # noqa: F401 (its fixtures)
from tests.tiny_method import DATASET

FIXTURE = Path(__file__).with_name("fixtures") / "official-lia-losses.pt"
OFFICIAL = ("vox", "taichi", "ted")

pytestmark = pytest.mark.usefixtures("one_thread")  # as the official-code fixture was made


@pytest.fixture(scope="module")
def fx() -> dict[str, Any]:
    return torch.load(FIXTURE, weights_only=False)  # project material written by the official code


def official_model(fx: dict[str, Any]) -> LIA:
    """Our LIA with the fixture's weights and trainer.py's loss settings at the fixture's scales, in train mode."""
    model = build_lia({**fx["model_params"], "losses": {"scales": fx["scales"], "pretrained_vgg": False}})
    for name, recipe in fx["recipes"].items():
        getattr(model, name).load_state_dict(materialize(recipe), strict=True)
    load_vgg19_trunk(model.perceptual.module().vgg, materialize(fx["perceptual_vgg19"]))
    return model.train()


def test_training_step_matches_trainer_py(fx):
    """``gen_update`` then ``dis_update``: the four loss terms, the reconstruction, and each network's gradient
    (generator from ``vgg + l1 + gan_g``, discriminator from ``d_loss``) from one backward of their sum."""
    model, out, floor = official_model(fx), fx["outputs"], fx["noise_floor"]
    batch = {k: v.float() / 255 for k, v in fx["inputs"].items()}
    predictions = []
    model.gen.dec.register_forward_hook(lambda m, i, o: predictions.append(o))
    losses = model.losses(batch)
    assert set(losses) == set(out["losses"]) == {"perceptual", "l1", "gen_gan", "disc_gan"}
    report = {}
    for term, value in out["losses"].items():
        report[f"loss/{term}"] = abs(losses[term].item() - value.item())
        assert report[f"loss/{term}"] <= max(1e-4, 10 * floor[f"loss/{term}"]), term
    report["prediction"] = (predictions[0] - out["prediction"]).abs().max().item()
    assert report["prediction"] <= max(1e-4, 10 * floor["prediction"])
    sum(losses.values()).backward()
    grads = out["grads"]
    for name in ("gen", "dis"):
        net = getattr(model, name)
        report[f"grad/{name}"] = relative_grad_error(net.named_parameters(), grads["grads"][name],
                                                     {k: {**v, "index": v["index"].long()}
                                                      for k, v in grads["grads_sampled"][name].items()})
        assert report[f"grad/{name}"] <= max(0.02, 3 * floor[f"grad/{name}"]), name
    without = sorted(f"{n}.{k}" for n in ("gen", "dis") for k, p in getattr(model, n).named_parameters()
                     if p.grad is None)
    assert without == sorted(grads["params_without_grad"]), "unused parameters (to_rgb1, noise weights)"
    print("\n" + ", ".join(f"{k} {v:.1e}" for k, v in report.items()))


def test_generator_terms_do_not_reach_the_discriminator_and_back():
    """The trainer sums every term and steps both optimisers: ``gen_gan`` must not move the discriminator
    (frozen, as ``requires_grad(dis, False)``) and ``disc_gan`` not the generator (a detached image)."""
    torch.manual_seed(0)
    model = build_lia(TINY).train()
    losses = model.losses({"source": torch.rand(4, 3, 16, 16), "driving": torch.rand(4, 3, 16, 16)})
    losses["gen_gan"].backward(retain_graph=True)
    assert all(p.grad is None for p in model.dis.parameters())
    model.zero_grad(set_to_none=True)
    losses["disc_gan"].backward()
    assert all(p.grad is None for p in model.gen.parameters())
    assert all(p.requires_grad for p in model.dis.parameters()), "the discriminator is trainable again"


@pytest.mark.parametrize("name", OFFICIAL)
def test_strategies_carry_trainer_py_optimisers(fx, name):
    """lr 0.002 and betas (0, 0.99) scaled by g_reg_every / d_reg_every ratios, read from the official
    optimisers; no schedule; global batch 64; 800,000 iterations."""
    config = load_train_config(file=train_config_path("lia", name))
    optimisers = fx["outputs"]["optimisers"]
    assert config.lr == pytest.approx(optimisers["gen"]["lr"], rel=1e-12)
    assert config.betas == pytest.approx(optimisers["gen"]["betas"], rel=1e-12)
    assert config.lr_discriminator == pytest.approx(optimisers["dis"]["lr"], rel=1e-12)
    assert config.betas_discriminator == pytest.approx(optimisers["dis"]["betas"], rel=1e-12)
    assert all(o["weight_decay"] == 0 and o["eps"] == 1e-8 for o in optimisers.values())
    assert config.epoch_milestones == [] and config.batch_size == fx["train_args"]["batch_size"] * 32
    assert not config.id_sampling and config.num_refs == 0
    if name != "ted":  # not a registered dataset: its epochs depend on the user's copy
        steps = config.num_repeats * DATASETS.get(name).train_count // config.batch_size
        assert 800_000 <= steps * config.num_epochs < 805_000
    params = load_model_params("lia", name)
    with torch.device("meta"):
        losses = build_lia(params).config.losses
    assert (losses.perceptual, losses.scales, losses.l1, losses.gen_gan, losses.disc_gan) == (
        [10.0] * 5, [1.0, 0.5, 0.25, 0.125], 1.0, 1.0, 1.0), "trainer.py / vgg19.py"


def test_every_dataset_has_a_strategy_and_augmentation_as_the_official_datasets():
    for name in [n for n in DATASETS.names() if not n.startswith("tiny-test")] + ["ted"]:
        config = load_train_config(file=train_config_path("lia", name))
        aug = config.augmentation
        assert not aug.time_flip and aug.resize is None, name
        if name in ("vox", "dfdc", "nemo"):  # Vox256(augmentation=False)
            assert not aug.horizontal_flip and aug.crop is None and aug.jitter.brightness == 0, name
        elif name != "synthetic":  # Taichi: crop 224, flip, jitter; TED: flip, jitter
            assert aug.horizontal_flip and aug.jitter.hue == pytest.approx(0.1), name
            assert (aug.crop.size if aug.crop else None) == (None if name == "ted" else [224, 224]), name


# ----------------------------------------------------------------------------- bench train / bench run

TINY = {"size": 16, "latent_dim_style": 16, "latent_dim_motion": 4, "max_channels": 8, "animation": {"mode": "absolute"},
        "losses": {"scales": [1.0], "perceptual": [1, 0, 0, 0, 0], "l1": 10, "pretrained_vgg": False}}
STRATEGY = {**TINY_TRAIN, "num_epochs": 1, "num_repeats": 2, "lr": 1e-3, "lr_discriminator": 2e-3,
            "betas": [0.0, 0.99], "betas_discriminator": [0.0, 0.9], "epoch_milestones": [],
            "augmentation": {"horizontal_flip": True, "time_flip": False, "crop": {"size": [28, 28]}}}


def test_bench_train_steps_both_networks_with_their_own_adam(data_root, tmp_path):  # noqa: F811 (fixture)
    model_file, train_file = tmp_path / "lia.yaml", tmp_path / "train.yaml"
    model_file.write_text(yaml.safe_dump({"model_params": TINY}))
    train_file.write_text(yaml.safe_dump(STRATEGY))
    seen: list[frozenset] = []
    result = run_training(TrainRequest(method="lia", dataset=DATASET, root=data_root, config=model_file,
                                       train_config=train_file, out=tmp_path / "run", device="cpu",
                                       callbacks=[lambda trainer, values: seen.append(frozenset(values))]))
    assert seen and all(terms == {"perceptual", "l1", "gen_gan", "disc_gan", "loss"} for terms in seen)
    saved = load_checkpoint(result.checkpoint)
    groups = saved["optimizer"]["param_groups"][0], saved["optimizer_discriminator"]["param_groups"][0]
    assert [(g["lr"], tuple(g["betas"])) for g in groups] == [(1e-3, (0.0, 0.99)), (2e-3, (0.0, 0.9))]
    before = build_lia(TINY).state_dict()  # the same seed draws the same initial weights
    moved = {k.split(".")[0] for k, v in saved["model"].items() if not torch.equal(v, before[k])}
    assert moved == {"gen", "dis"}
    out = tmp_path / "eval"
    assert main(["run", "--method", "lia", "--dataset", DATASET, "--root", str(data_root), "--checkpoint",
                 str(result.checkpoint), "--task", "all", "--max-videos", "2", "--num-pairs", "2", "--refs", "1",
                 "--metrics", "l1", "--no-track", "--out", str(out)]) == 0
    recorded = summary(out / "animation")["run"]
    assert recorded["config"]["animation"]["mode"] == "absolute", "the run records the animation mode"


def test_bench_run_official_checkpoint_on_the_synthetic_set(tmp_path):
    """``bench run --official``: an official-format file (``gen``, ``dis``, optimiser states) of the synthetic
    preset's configuration (which trains without discriminator: ``dis`` is ignored), through the official
    loading route."""
    params = load_model_params("lia", "synthetic")
    torch.manual_seed(1)
    model = build_lia(params)
    checkpoint = tmp_path / "lia.pt"
    discriminator = build_lia({**params, "losses": {"gen_gan": 1.0}}).dis
    torch.save({"gen": model.gen.state_dict(), "dis": discriminator.state_dict(), "g_optim": {}, "d_optim": {}},
               checkpoint)
    out = tmp_path / "out"
    assert main(["run", "--method", "lia", "--official", "--checkpoint", str(checkpoint), "--dataset", "synthetic",
                 "--task", "reconstruction", "--max-videos", "1", "--refs", "0", "--metrics", "l1", "--no-track",
                 "--out", str(out)]) == 0
    loaded = build_method("lia", params, torch.load(checkpoint, weights_only=True), official=True)
    frames = torch.from_numpy(frames01(synthetic_videos(1)[0].path)).float().permute(0, 3, 1, 2)
    with torch.no_grad():
        generated = loaded.generate(frames[:1].expand_as(frames), frames)
    expected = float((generated - frames).abs().flatten(1).mean(1).mean())
    assert summary(out)["means"]["l1"] == pytest.approx(expected, abs=1e-5)
