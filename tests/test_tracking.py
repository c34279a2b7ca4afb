"""Where ``bench`` runs go on a tracking store (a real SQLite MLflow store here)."""
from __future__ import annotations

import pytest

from bench import tracking


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv(tracking.EXPERIMENT_ENV, "target")
    import mlflow

    mlflow.set_tracking_uri(tracking.tracking_uri())
    return mlflow.tracking.MlflowClient()


def _lookup_misses_once(monkeypatch):
    """The first experiment lookup answers 'no such experiment', as it does for a process that asks just before
    another one creates it."""
    from mlflow.tracking._tracking_service.client import TrackingServiceClient

    real = TrackingServiceClient.get_experiment_by_name
    calls = []

    def lookup(self, name):
        calls.append(name)
        return None if len(calls) == 1 else real(self, name)
    monkeypatch.setattr(TrackingServiceClient, "get_experiment_by_name", lookup)
    return calls


def test_a_run_goes_to_its_experiment_when_another_process_created_it_first(store, monkeypatch):
    """The process whose creation of the experiment loses the race still logs into it, not into the experiment a
    parent process exported in MLFLOW_EXPERIMENT_ID (which mlflow.set_experiment does) nor into Default."""
    parent = store.create_experiment("parents-experiment")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", parent)
    target = store.create_experiment("target")  # by the other process, between the lookup and the creation
    calls = _lookup_misses_once(monkeypatch)
    with tracking.start_run("r", tracking.tags(kind="eval")) as mlflow:
        run = mlflow.active_run()
    assert calls == ["target", "target"]  # the lookup missed, the creation failed, the second lookup found it
    assert run.info.experiment_id == target
    assert [r.info.run_id for r in tracking.find_runs()] == [run.info.run_id]


def test_a_run_goes_to_the_named_experiment_whatever_mlflow_experiment_id_says(store, monkeypatch):
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", store.create_experiment("parents-experiment"))
    with tracking.start_run("r", tracking.tags(kind="eval")) as mlflow:
        run = mlflow.active_run()
    assert run.info.experiment_id == store.get_experiment_by_name("target").experiment_id
