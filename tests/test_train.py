"""bench train: exact resume, Ctrl-C checkpoints, mismatch errors and MLflow records (tiny method, 32x32)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from bench.checkpoints import load_checkpoint
from bench.errors import ConfigError, UserError
from bench.methods import build_method
from bench.training import TrainRequest, TrainingInterrupted, run_training
from tests.conftest import REPO
from tests.tiny_method import DATASET, NAME, make_data

TINY_TRAIN = {
    "num_epochs": 2, "num_repeats": 4, "epoch_milestones": [1], "batch_size": 2, "checkpoint_every": 1,
    "id_sampling": True, "num_refs": 0, "num_workers": 0, "seed": 3, "log_every": 2, "sample_every": 3,
    "augmentation": {"horizontal_flip": True, "time_flip": True,
                     "jitter": {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.1}},
}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return make_data(tmp_path_factory.mktemp("data") / "tiny")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def _one_store_per_module(store, monkeypatch):
    """Creating an MLflow database takes seconds: the tests of this module share one."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)


@pytest.fixture
def train_file(tmp_path) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(TINY_TRAIN))
    return path


def _request(data_root, train_file, out, **kw) -> TrainRequest:
    fields = dict(method=NAME, dataset=DATASET, root=data_root, config=_model_file(out.parent),
                  train_config=train_file, out=out, device="cpu")
    fields.update(kw)
    return TrainRequest(**fields)


def _model_file(folder: Path) -> Path:
    path = folder / "model.yaml"
    if not path.exists():
        path.write_text(yaml.safe_dump({"model_params": {"channels": 8}}))
    return path


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_train_writes_checkpoints_that_load_for_evaluation(data_root, train_file, tmp_path):
    result = run_training(_request(data_root, train_file, tmp_path / "run"))
    steps_per_epoch = 4 * 2 // 2  # repeats x identities / batch
    assert (result.epoch, result.step) == (2, 2 * steps_per_epoch)
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt["method"] == NAME and ckpt["train_dataset"] == DATASET and ckpt["run_id"] == result.run_id
    assert ckpt["epoch"] == 2 and ckpt["batch_in_epoch"] == 0
    assert (tmp_path / "run" / "checkpoints" / "epoch-0001.pt").is_file()
    # MultiStepLR at milestone 1: lr dropped by gamma once
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == pytest.approx(2e-4 * 0.1)
    # the checkpoint loads in evaluation as the same method

    method, meta = build_method(NAME, checkpoint=result.checkpoint), load_checkpoint(result.checkpoint)
    assert meta["epoch"] == 2 and not method.training


def test_resume_after_an_epoch_matches_training_straight_through(data_root, train_file, tmp_path):
    straight = run_training(_request(data_root, train_file, tmp_path / "straight"))
    first = run_training(_request(data_root, train_file, tmp_path / "split", epochs=1))
    assert first.epoch == 1
    # by MLflow run id: the run's mb.checkpoint tag leads to the checkpoint
    resumed = run_training(TrainRequest(resume=first.run_id, epochs=2, device="cpu", root=data_root))
    assert resumed.run_id == first.run_id, "a resumed run continues its MLflow run"
    assert resumed.out_dir.resolve() == (tmp_path / "split").resolve()
    assert (resumed.epoch, resumed.step) == (straight.epoch, straight.step)
    _assert_same(_weights(straight.checkpoint), _weights(resumed.checkpoint))
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    for state_a, state_b in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(state_a["exp_avg"], state_b["exp_avg"])


def test_interrupt_mid_epoch_saves_and_resume_is_exact(data_root, train_file, tmp_path):
    straight = run_training(_request(data_root, train_file, tmp_path / "straight"))

    def stop_at_step_3(trainer, values):
        if trainer.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as stop:
        run_training(_request(data_root, train_file, tmp_path / "cut", callbacks=[stop_at_step_3]))
    saved = load_checkpoint(stop.value.checkpoint)
    assert (saved["epoch"], saved["step"], saved["batch_in_epoch"]) == (0, 3, 3)
    resumed = run_training(TrainRequest(resume=tmp_path / "cut", device="cpu", root=data_root))
    assert resumed.step == straight.step
    _assert_same(_weights(straight.checkpoint), _weights(resumed.checkpoint))


def test_sigint_saves_a_checkpoint_before_exiting(data_root, train_file, tmp_path):
    marker = tmp_path / "started"
    script = ("import sys; import tests.tiny_method; from bench.cli import main; "
              "raise SystemExit(main(sys.argv[1:]))")
    cmd = [sys.executable, "-c", script, "train", "--method", NAME, "--dataset", DATASET, "--root", str(data_root),
           "--config", str(_model_file(tmp_path)), "--train-config", str(train_file), "--out", str(tmp_path / "run"),
           "--device", "cpu", "--set", "model.delay=0.3", "--set", f"model.marker={marker}", "--epochs", "50"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 600  # generous: only a very loaded machine needs long to start
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), proc.communicate()[1]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "checkpoint saved to" in err and "--resume" in err
    saved = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert saved["step"] >= 1 and saved["epoch"] < 50


def test_checkpoint_of_another_method_or_config_is_refused(data_root, train_file, tmp_path):
    first = run_training(_request(data_root, train_file, tmp_path / "run", epochs=1))
    with pytest.raises(UserError, match=rf"is for method '{NAME}' .*not 'fomm'"):
        run_training(TrainRequest(method="fomm", resume=first.checkpoint, device="cpu"))
    with pytest.raises(UserError, match="not the requested config"):
        run_training(TrainRequest(resume=first.checkpoint, overrides=["model.channels=4"], device="cpu"))
    with pytest.raises(UserError, match="trained on"):
        run_training(TrainRequest(resume=first.checkpoint, dataset="vox", device="cpu"))


def test_mlflow_run_has_params_metrics_samples_and_checkpoint_tag(data_root, train_file, tmp_path):
    import mlflow

    from bench import tracking

    result = run_training(_request(data_root, train_file, tmp_path / "run"))
    client = mlflow.tracking.MlflowClient(tracking.tracking_uri())
    run = client.get_run(result.run_id)
    tags, params = run.data.tags, run.data.params
    assert tags["mb.kind"] == "train" and tags["mb.method"] == NAME and tags["mb.dataset"] == DATASET
    assert Path(tags["mb.checkpoint"]) == result.checkpoint.resolve()
    assert params["train.lr"] == "0.0002" and params["train.batch_size"] == "2" and params["seed"] == "3"
    assert params["model.channels"] == "8" and "versions.torch" in params
    history = client.get_metric_history(result.run_id, "loss")
    assert [m.step for m in history] == [2, 4, 6, 8]  # log_every 2, 8 steps
    for name in ("loss/l1", "lr", "throughput_fps", "epoch"):
        assert client.get_metric_history(result.run_id, name), name
    lrs = [m.value for m in client.get_metric_history(result.run_id, "lr")]
    assert lrs[0] == pytest.approx(2e-4) and lrs[-1] == pytest.approx(2e-5)
    samples = [a.path for a in client.list_artifacts(result.run_id, "samples")]
    assert samples == ["samples/step-0000003.png", "samples/step-0000006.png"]  # sample_every 3
    from PIL import Image

    grid = Image.open(tmp_path / "run" / "samples" / "step-0000003.png")
    assert grid.size == (3 * 32, 2 * 32)  # source | driving | generated, one row per sample (batch 2)


def test_bad_settings_are_one_line_errors(data_root, train_file, tmp_path):
    with pytest.raises(ConfigError, match="train.batch_size"):
        run_training(_request(data_root, train_file, tmp_path / "a", overrides=["train.batch_size=0"]))
    with pytest.raises(ConfigError, match="larger than"):
        run_training(_request(data_root, train_file, tmp_path / "b", overrides=["train.batch_size=64"]))
    with pytest.raises(ConfigError, match="unknown config key 'train.epochz'"):
        run_training(_request(data_root, train_file, tmp_path / "c", overrides=["train.epochz=3"]))
    with pytest.raises(ConfigError, match="'train.' .* or 'model.'"):
        run_training(_request(data_root, train_file, tmp_path / "d", overrides=["lr=1"]))
    with pytest.raises(ConfigError, match="CUDA"):
        run_training(_request(data_root, train_file, tmp_path / "e", amp=True))
    with pytest.raises(UserError, match="no such checkpoint file or folder"):
        run_training(TrainRequest(resume=str(tmp_path / "missing.pt"), device="cpu"))


def test_checkpoint_evaluates_in_bench_run(data_root, train_file, tmp_path):
    from bench.datasets import get_dataset
    from bench.datasets.video_io import list_videos, read_video, to_tensor
    from tests.run_support import reconstruction_l1

    result = run_training(_request(data_root, train_file, tmp_path / "run", epochs=1))
    got = reconstruction_l1(NAME, DATASET, result.checkpoint, root=data_root, device="cpu", out=tmp_path / "eval")
    # independent: source = first frame, driving = every frame, mean |generated - driving| per video
    method = build_method(checkpoint=result.checkpoint)
    per_video = []
    for video in list_videos(data_root, "test", get_dataset(DATASET)):
        frames = to_tensor(read_video(video.path))
        with torch.no_grad():
            generated = method.generate(frames[:1].expand_as(frames), frames)
        per_video.append((generated - frames).abs().mean().item())
    assert got == pytest.approx(sum(per_video) / len(per_video), rel=1e-5)
