"""bench train with the official strategies' parts: FOMM's discriminator (own optimiser, saved, exact resume),
MRAA's AVD stage (--stage avd: only the AVD network learns, its own checkpoints and MLflow run, exact resume,
animation defaults), the global batch under torchrun and SyncBatchNorm (tiny presets on 32x32 frames)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml

from bench.checkpoints import load_checkpoint, save_checkpoint
from bench.distributed import DistContext
from bench.errors import ConfigError, UserError
from bench.methods import build_method
from bench.methods.presets import load_model_params
from bench.training import TrainRequest, TrainingInterrupted, run_training
from bench.training.config import deep_merge, train_config_from
from bench.training.trainer import per_process_batch, sync_batchnorm
from tests.run_support import batchnorm_statistics_moved, learned_networks
from tests.test_train import TINY_TRAIN, _one_store_per_module, data_root, store  # noqa: F401 (its fixtures)
from tests.tiny_method import DATASET

#: FOMM's tiny preset with the official adversarial loss, a discriminator small enough for 32x32 frames
FOMM_GAN = {"discriminator_params": {"scales": [1], "block_expansion": 8, "max_features": 16, "num_blocks": 3,
                                     "sn": True},
            "losses": {"generator_gan": 1, "discriminator_gan": 1, "feature_matching": [10, 10, 10]}}
#: 2 epochs of 2 steps (2 identities x 2 repeats, batch 2); the AVD stage: 2 epochs of 2 steps of 4
STRATEGY = {**TINY_TRAIN, "num_repeats": 2, "lr": 1e-3, "lr_discriminator": 3e-4, "sample_every": 100,
            "stages": {"avd": {"num_epochs": 2, "num_repeats": 4, "epoch_milestones": [1], "batch_size": 4,
                               "lr": 1e-3, "loss_weights": {"rec_shift": 1, "rec_affine": 1}, "sample_every": 2,
                               "options": {"random_scale": 0.25}}}}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("configs")
    paths = {"fomm": folder / "fomm.yaml", "mraa": folder / "mraa.yaml", "train": folder / "train.yaml"}
    paths["fomm"].write_text(yaml.safe_dump({"model_params": deep_merge(load_model_params("fomm", "synthetic"),
                                                                        FOMM_GAN)}))
    paths["mraa"].write_text(yaml.safe_dump({"model_params": load_model_params("mraa", "synthetic")}))
    paths["train"].write_text(yaml.safe_dump(STRATEGY))
    return paths


def request(method, data_root, files, out, **kw) -> TrainRequest:
    fields = dict(method=method, dataset=DATASET, root=data_root, config=files[method], train_config=files["train"],
                  out=out, device="cpu")
    return TrainRequest(**{**fields, **kw})


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_fomm_discriminator_trains_with_its_own_optimiser_and_resumes_exactly(data_root, files, tmp_path):
    straight = run_training(request("fomm", data_root, files, tmp_path / "straight"))
    ckpt = load_checkpoint(straight.checkpoint)
    groups = ckpt["optimizer_discriminator"]["param_groups"]
    assert groups[0]["lr"] == pytest.approx(3e-4 * 0.1), "lr_discriminator, dropped at the milestone"
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-3 * 0.1)
    assert ckpt["scheduler_discriminator"]["last_epoch"] == 2
    model = build_method(checkpoint=straight.checkpoint)
    assert len(groups[0]["params"]) == len(list(model.discriminator.parameters())), "its own Adam"
    assert len(ckpt["optimizer"]["param_groups"][0]["params"]) == len(list(model.parameters())) - len(
        groups[0]["params"]), "the model's Adam holds everything else"

    def stop_at_step_3(trainer, values):
        assert {"gen_gan", "feature_matching", "disc_gan"} <= set(values)
        if trainer.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):  # mid-way through the second epoch
        run_training(request("fomm", data_root, files, tmp_path / "cut", callbacks=[stop_at_step_3]))
    resumed = run_training(TrainRequest(resume=tmp_path / "cut", device="cpu", root=data_root))
    assert resumed.step == straight.step
    end = load_checkpoint(resumed.checkpoint)
    assert_same(ckpt["model"], end["model"])  # weights and spectral-norm vectors of every network
    for key in ("optimizer", "optimizer_discriminator"):
        for a, b in zip(ckpt[key]["state"].values(), end[key]["state"].values()):
            assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])


def test_mraa_avd_stage_trains_only_the_avd_network_and_resumes_exactly(data_root, files, tmp_path):
    import mlflow

    from bench import tracking

    main = run_training(request("mraa", data_root, files, tmp_path / "run", epochs=1))
    before = load_checkpoint(main.checkpoint)
    assert before["stage"] == "main" and not before["model"]["trained_avd"]
    relative = build_method(checkpoint=main.checkpoint)
    assert relative.animation_mode() == "relative", "untrained AVD network: relative animation"

    again = tmp_path / "again" / "checkpoints"  # the same start, for an interrupted AVD stage below
    again.mkdir(parents=True)
    shutil.copy(main.checkpoint, again / "last.pt")

    stage = run_training(TrainRequest(stage="avd", resume=tmp_path / "run", device="cpu", root=data_root))
    assert stage.checkpoint == tmp_path / "run" / "checkpoints" / "avd" / "last.pt"
    assert load_checkpoint(main.checkpoint)["step"] == before["step"], "the main stage's checkpoint stays"
    after = load_checkpoint(stage.checkpoint)
    assert (after["stage"], after["epoch"], after["step"]) == ("avd", 2, 2 * 2)
    assert bool(after["model"]["trained_avd"])
    assert learned_networks(before["model"], after["model"]) == {"avd_network"}, "only the AVD network learns"
    assert batchnorm_statistics_moved(before["model"], after["model"], "region_predictor"), \
        "the region predictor runs in train mode (BatchNorm statistics move), as train_avd.py"
    assert after["train_config"]["batch_size"] == 4 and after["train_config"]["lr"] == pytest.approx(1e-3)
    assert stage.run_id != main.run_id
    tags = mlflow.tracking.MlflowClient(tracking.tracking_uri()).get_run(stage.run_id).data.tags
    assert tags["mb.stage"] == "avd" and tags["mb.kind"] == "train"
    trained = build_method(checkpoint=stage.checkpoint)
    assert trained.animation_mode() == "avd", "a trained AVD network: the official avd animation"

    # an interrupted AVD stage continues exactly (folder + --stage finds checkpoints/avd/last.pt)
    def stop(trainer, values):
        assert set(values) == {"rec_shift", "rec_affine", "loss"}
        if trainer.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        run_training(TrainRequest(stage="avd", resume=tmp_path / "again", device="cpu", root=data_root,
                                  callbacks=[stop]))
    resumed = run_training(TrainRequest(stage="avd", resume=tmp_path / "again", device="cpu", root=data_root))
    assert_same(after["model"], load_checkpoint(resumed.checkpoint)["model"])

    with pytest.raises(UserError, match="is from training stage 'avd': it continues that stage"):
        run_training(TrainRequest(stage="main", resume=stage.checkpoint, device="cpu", root=data_root))


def untrained_checkpoint(method: str, files, path: Path) -> Path:
    """A main-stage checkpoint of a fresh model, as training writes it (no training needed to test errors)."""
    config = yaml.safe_load(files[method].read_text())["model_params"]
    model = build_method(method, config)
    optimizer = torch.optim.Adam(model.parameters())
    return save_checkpoint(path, method=method, config=config, model=model.state_dict(), stage="main",
                           optimizer=optimizer.state_dict(), train_dataset=DATASET, epoch=0, step=0,
                           train_config=STRATEGY)


def test_stage_errors_are_one_line(data_root, files, tmp_path):
    with pytest.raises(UserError, match="continues a trained model: pass --resume"):
        run_training(request("mraa", data_root, files, tmp_path / "a", stage="avd"))
    fomm = untrained_checkpoint("fomm", files, tmp_path / "fomm.pt")
    with pytest.raises(UserError, match="method 'fomm' has no training stage 'avd' \\(stages: main\\)"):
        run_training(TrainRequest(stage="avd", resume=fomm, device="cpu", root=data_root))
    with pytest.raises(ConfigError, match="no section 'stages.other'"):
        run_training(TrainRequest(stage="other", resume=fomm, device="cpu", root=data_root,
                                  train_config=files["train"]))
    mraa = untrained_checkpoint("mraa", files, tmp_path / "mraa.pt")
    with pytest.raises(ConfigError, match="unknown config key 'train.options.random_scal'"):
        run_training(TrainRequest(stage="avd", resume=mraa, device="cpu", root=data_root,
                                  overrides=["train.options.random_scal=0.1"]))


def test_the_config_batch_is_global_and_divides_among_processes():
    config = train_config_from({"num_epochs": 1, "num_repeats": 1, "epoch_milestones": [], "batch_size": 12})
    cpu = torch.device("cpu")
    assert [per_process_batch(config, DistContext(0, n, 0, cpu)) for n in (1, 2, 3, 4)] == [12, 6, 4, 3]
    with pytest.raises(ConfigError, match="global batch and must divide among the 5 processes"):
        per_process_batch(config, DistContext(0, 5, 0, cpu))


def test_sync_bn_converts_batchnorm_only_across_cuda_processes():
    config = train_config_from({"num_epochs": 1, "num_repeats": 1, "epoch_milestones": [], "batch_size": 2,
                                "sync_bn": True})
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    cpu = torch.device("cpu")
    assert sync_batchnorm(module, config, DistContext(0, 1, 0, cpu)) is module, "alone: nothing to synchronise"
    with pytest.raises(ConfigError, match="train.sync_bn"):
        sync_batchnorm(module, config, DistContext(0, 2, 0, cpu))
    converted = sync_batchnorm(module, config, DistContext(0, 2, 0, torch.device("cuda", 0)))
    assert isinstance(converted[1], torch.nn.SyncBatchNorm)
    assert converted.state_dict().keys() == torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3),
                                                                torch.nn.BatchNorm2d(4)).state_dict().keys()
