"""Shared test fixtures: paths to ../shared, an isolated MLflow store per test, one intra-op thread on request."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared test material not found at {SHARED}")
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory, monkeypatch):
    """Keep MLflow runs and caches of tests out of the checkout and the user's home."""
    root = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    monkeypatch.setenv("MOTIONBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "motionbench-cache"))


@pytest.fixture
def full_disk(monkeypatch):
    """Call it to make every later ``torch.save`` fail as on a full disk (after writing its file)."""
    import torch

    real_save = torch.save

    def failing_save(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed")

    return lambda: monkeypatch.setattr(torch, "save", failing_save)


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread and no oneDNN convolutions for a module: as the official-code fixtures were made.
    Other thread counts only change float rounding; so do oneDNN's fp32 convolution kernels, but by much more on
    some CPUs (an AVX2 AMD EPYC: the official MRAA code's own training gradients land 1e-2 (relative) away from
    its fixture with oneDNN, 7e-5 without). Small convolutions also stay fast on busy shared cores."""
    threads, onednn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    yield
    torch.backends.mkldnn.enabled = onednn
    torch.set_num_threads(threads)
