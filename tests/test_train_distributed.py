"""Distributed training on the CPU: 2 processes with gloo end with identical weights."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
import yaml

from bench.checkpoints import load_checkpoint
from bench.distributed import DistContext
from bench.training.sampler import EpochSampler
from bench.methods import build_method
from bench.methods.presets import load_model_params
from bench.training.config import deep_merge
from bench.utils import seed_everything
from tests.test_train import TINY_TRAIN
from tests.tiny_method import DATASET, NAME, build_tiny, make_data


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, world: int, port: int, folder: str, method: str) -> None:
    """One torchrun-like process: environment as torchrun sets it, then the library entry point."""
    import tests.tiny_method  # noqa: F401  (registers the tiny method in this process)
    from bench.training import TrainRequest, run_training

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    trainers = []
    base = Path(folder)
    result = run_training(TrainRequest(
        method=method, dataset=DATASET, root=base / "data", config=base / "model.yaml", train_config=base / "train.yaml",
        out=base / "run", device="cpu", callbacks=[lambda trainer, values: trainers.append(trainer)]))
    torch.save({"state": trainers[-1].method.state_dict(), "step": result.step, "run_id": result.run_id},
               base / f"rank{rank}.pt")


def _train_on_two_processes(folder: Path, method: str, model_params: dict) -> tuple[dict, dict]:
    make_data(folder / "data")
    (folder / "model.yaml").write_text(yaml.safe_dump({"model_params": model_params}))
    # the global batch of 4 is 2 per process
    (folder / "train.yaml").write_text(yaml.safe_dump({**TINY_TRAIN, "num_epochs": 1, "log_every": 1,
                                                        "batch_size": 4}))
    mp.spawn(_worker, args=(2, _free_port(), str(folder), method), nprocs=2, join=True)
    return tuple(torch.load(folder / f"rank{r}.pt", weights_only=True) for r in (0, 1))


def test_two_gloo_processes_end_with_identical_weights(tmp_path):
    rank0, rank1 = _train_on_two_processes(tmp_path, NAME, {"channels": 8})
    # 8 samples per epoch shared by 2 processes, global batch 4 = 2 per process: 2 steps each
    assert rank0["step"] == rank1["step"] == 2
    assert rank0["run_id"] and rank1["run_id"] is None, "only rank 0 talks to MLflow"
    for key, value in rank0["state"].items():
        assert torch.equal(value, rank1["state"][key]), key
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2, "every rank's RNG state is saved"
    for key, value in rank0["state"].items():
        assert torch.equal(value, ckpt["model"][key]), key
    seed_everything(TINY_TRAIN["seed"])  # the initial weights every rank started from
    initial = build_tiny({"channels": 8}).state_dict()
    assert any(not torch.equal(initial[k], ckpt["model"][k]) for k in initial), "training moved the weights"


@pytest.mark.parametrize("world", [1, 2, 3])
def test_epoch_sampler_splits_an_epoch_and_resumes_part_way(world):
    data = list(range(10))
    per_rank = []
    for rank in range(world):
        sampler = EpochSampler(data, DistContext(rank, world, rank, torch.device("cpu")), seed=5)
        sampler.set_epoch(2)
        full = list(sampler)
        sampler.set_epoch(2, skip=3)
        assert list(sampler) == full[3:] and len(sampler) == len(full) - 3
        per_rank.append(full)
    assert set().union(*per_rank) == set(data)
    assert len({len(p) for p in per_rank}) == 1, "ranks get equal shares (padded), so they step together"
    sampler = EpochSampler(data, DistContext(0, world, 0, torch.device("cpu")), seed=5)
    sampler.set_epoch(3)
    assert list(sampler) != per_rank[0], "another epoch, another order"


def test_fomm_with_its_discriminator_trains_identically_on_two_processes(tmp_path):
    """The one-backward adversarial step (discriminator frozen for the generator terms) under
    DistributedDataParallel: both optimisers step identically on every rank."""
    from tests.test_train_strategies import FOMM_GAN

    params = deep_merge(load_model_params("fomm", "synthetic"), FOMM_GAN)
    rank0, rank1 = _train_on_two_processes(tmp_path, "fomm", params)
    assert rank0["step"] == rank1["step"] == 2
    seed_everything(TINY_TRAIN["seed"])
    initial = build_method("fomm", params)
    # parameters agree; buffers (BatchNorm statistics, spectral-norm vectors) are each rank's last
    # forward's, as DistributedDataParallel broadcasts rank 0's at the start of every forward
    for key, _ in initial.named_parameters():
        assert torch.equal(rank0["state"][key], rank1["state"][key]), key
    assert all(not torch.equal(value, rank0["state"][key]) for key, value in initial.state_dict().items()
               if key.startswith("discriminator.") and key.endswith("weight_orig")), "the discriminator learned"
