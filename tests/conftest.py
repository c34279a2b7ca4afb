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
    """One intra-op thread for a module: as the official-code fixtures were made (other counts only change
    float rounding), and small convolutions stay fast on busy shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
