"""Experiments with training cells (``train:``), SLURM resources and the submission logic of ``bench sweep
--executor slurm`` (which cells become which jobs, with which dependencies, never twice), without a cluster;
tests/test_cluster.py runs them on a real one."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.cli import main
from bench.config import config_path
from bench.errors import ConfigError
from bench.experiment import load_experiment
from bench.experiment import slurm as slurm_executor
from bench.experiment.records import JobRecord, Records
from bench.experiment.scheduler import JobState
from bench.experiment.status import experiment_statuses

GRID = config_path("experiments", "synthetic-grid.yaml")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_the_tiny_grid_trains_every_trainable_method_per_seed_and_evaluates_its_checkpoints():
    experiment = load_experiment(GRID)
    assert [(c.method, c.seed) for c in experiment.train] == [("fomm", 0), ("fomm", 1), ("mraa", 0), ("mraa", 1)]
    assert all(c.epochs == 1 and f"train.seed={c.seed}" in c.overrides for c in experiment.train)
    by_label = {c.label: c for c in experiment.train}
    for job in experiment.evals:
        if job.settings.method == "copy-source":
            assert job.train is None and job.train_seed is None and job.settings.checkpoint is None
            continue
        cell = by_label[job.train]
        assert (cell.method, cell.seed) == (job.settings.method, job.train_seed)
        assert job.settings.checkpoint == str(cell.checkpoint) == f"{cell.out}/checkpoints/last.pt"
        assert job.settings.out.endswith(f"-s{cell.seed}/{job.task}")
    assert len(experiment.evals) == 2 * (1 + 2 * 2)  # two tasks of copy-source, and of 2 methods x 2 seeds
    assert len({c.key for c in experiment.train}) == 4 and len({j.settings.out for j in experiment.evals}) == 10
    assert experiment.resources["train"].cpus_per_task == 1 and experiment.jobs_dir == Path("runs/synthetic-grid/jobs")


def test_variants_train_the_model_they_evaluate_and_stages_follow_each_other(tmp_path):
    path = _write(tmp_path, "name: abl\nmethods: [mraa]\ndatasets: [synthetic]\ntask: reconstruction\n"
                            "train: {set: [train.batch_size=2], stages: [avd], method_options: {mraa: {epochs: 2}}}\n"
                            "variants:\n  - {name: full}\n"
                            "  - {name: small, set: [num_regions=5], train: {set: [train.lr=0.1]}}\n")
    experiment = load_experiment(path)
    cells = {(c.variant, c.stage): c for c in experiment.train}
    assert set(cells) == {("full", "main"), ("full", "avd"), ("small", "main"), ("small", "avd")}
    small = cells["small", "main"]
    assert small.overrides == ("model.num_regions=5", "train.batch_size=2", "train.lr=0.1") and small.epochs == 2
    assert cells["small", "avd"].previous == small.label and cells["small", "avd"].out == small.out
    evaluated = {job.settings.variant: job.settings.checkpoint for job in experiment.evals}
    assert evaluated["small"] == f"{small.out}/checkpoints/avd/last.pt"


@pytest.mark.parametrize("text, message", [
    ("train: {epoch: 1}", "train: unknown key 'epoch'"),
    ("train: {methods: [copy-source]}", "'copy-source', which is evaluation-only"),
    ("train: {methods: [mraa]}", "'mraa', which is not in methods"),
    ("train: {seeds: [1, 1]}", "train.seeds must be a non-empty list of distinct integers"),
    ("train: {}\ncheckpoint: x.pt", "cell fomm/synthetic/default is trained by the experiment (train:) and also names"),
    ("resources: {cpus_per_task: 0}", "cpus_per_task must be > 0, got 0"),
    ("resources: {train: {gpus_per_node: 2, tasks_per_node: 4}}", "one task per GPU"),
    ("resources: {gpu: 1}", "unknown config key 'resources.gpu'"),
    ("resources: {time_min: soon}", "'resources.time_min': expected an integer"),
])
def test_bad_train_and_resource_sections_are_named(tmp_path, text, message):
    path = _write(tmp_path, "methods: [copy-source, fomm]\ndatasets: [synthetic]\n" + text + "\n")
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_resource_flags_win_over_the_file():
    experiment = load_experiment(GRID, {"partition": "gpu", "time_min": 5, "gpus_per_node": 2, "nodes": None})
    for kind in ("train", "eval"):
        request = experiment.resources[kind]
        assert (request.partition, request.time_min, request.cpus_per_task, request.world_size) == ("gpu", 5, 1, 2)
    assert experiment.resources["train"].submitit_parameters()["ntasks_per_node"] == 2


@pytest.mark.parametrize("argv, env, message", [
    (["--executor", "slurm", "--cpus-per-task", "-1"], {}, "cpus_per_task must be > 0, got -1"),
    (["--status"], {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}, "MLflow tracking server http://127.0.0.1:9 cannot"),
    (["--executor", "slurm"], {"PATH": "/nonexistent"}, None),
])
def test_sweep_bad_input_is_one_line_exit_2(argv, env, message, monkeypatch, capsys):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["sweep", str(GRID), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert (message or ("needs submitit" if _no_submitit() else "'sbatch' not found")) in err


def test_an_unknown_executor_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["sweep", str(GRID), "--executor", "pbs"])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and len(err.splitlines()) == 1 and "invalid choice: 'pbs'" in err


def _no_submitit() -> bool:
    try:
        import submitit  # noqa: F401
    except ImportError:
        return True
    return False


class FakeJob:
    """What submitit returns for a submitted job: its id and its log paths."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.paths = SimpleNamespace(stdout=f"logs/{job_id}_0_log.out", stderr=f"logs/{job_id}_0_log.err")


def test_slurm_submission_arrays_dependencies_and_never_twice(tmp_path, monkeypatch):
    """Alike cells go in one array, evaluations wait for their training job (afterok), and a second sweep
    while the jobs are queued submits nothing."""
    monkeypatch.chdir(tmp_path)
    submitted: list[tuple[str | None, list[str], str]] = []
    queue: dict[str, JobState] = {}

    def fake_submit(submitit, executor, cells, experiment, device):
        base = str(100 + len(submitted))
        ids = [f"{base}_{i}" for i in range(len(cells))] if len(cells) > 1 else [base]
        submitted.append((executor.dependency, [c.label for c in cells], executor.kind))
        queue.update({job_id: JobState("PENDING", "Dependency") for job_id in ids})
        return [FakeJob(job_id) for job_id in ids]

    def fake_executor(submitit, experiment, kind, resources, dependency):
        return SimpleNamespace(dependency=dependency, kind=kind)

    monkeypatch.setattr(slurm_executor, "require_submitit", lambda: None)
    monkeypatch.setattr(slurm_executor, "_submit", fake_submit)
    monkeypatch.setattr(slurm_executor, "_executor", fake_executor)
    monkeypatch.setattr(slurm_executor, "job_states", lambda ids: {i: queue[i] for i in ids if i in queue})
    experiment = load_experiment(GRID)
    submission, before = slurm_executor.submit_experiment(experiment, None)
    assert {s.state for s in before} == {"pending", "waiting"}
    train_array = submitted[0]
    assert train_array[0] is None and train_array[2] == "train" and len(train_array[1]) == 4  # one array
    train_ids = {label: submission.jobs[label] for label in train_array[1]}
    for dependency, labels, kind in submitted[1:]:
        assert kind == "eval"
        trained_by = {job.train for job in experiment.evals if job.label in labels}
        assert len(trained_by) == 1 and len(labels) == 2  # the two tasks of one checkpoint (or of copy-source)
        (train,) = trained_by
        assert dependency == (None if train is None else f"afterok:{train_ids[train]}")
    assert len(submission.jobs) == 14 and Records(experiment.jobs_dir).get(experiment.evals[0].label).job_id
    # the jobs are queued: a second sweep submits nothing and shows them as queued
    again, statuses = slurm_executor.submit_experiment(experiment, None)
    assert not again.jobs and {s.state for s in statuses} == {"queued"}
    # a training job that ended without completing its cell is failed, and submitted again; its evaluations too
    first = experiment.train[0]
    queue[train_ids[first.label]] = JobState("CANCELLED", "None")
    statuses = {s.label: s for s in experiment_statuses(experiment, queue)}
    assert statuses[first.label].state == "failed" and statuses[first.label].detail == "CANCELLED"
    again, _ = slurm_executor.submit_experiment(experiment, None)
    assert list(again.jobs) == [first.label]  # its evaluations are queued (afterok the cancelled job): kept
    Records(experiment.jobs_dir).put(experiment.evals[2].label, JobRecord("999", "o", "e", "t"))
    statuses = {s.label: s for s in experiment_statuses(experiment, queue)}
    assert statuses[experiment.evals[2].label].state == "waiting"  # its job ended: it waits for its training
