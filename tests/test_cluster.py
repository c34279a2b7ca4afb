"""``bench sweep --executor slurm`` on a real SLURM cluster, tracked on a real MLflow server (PostgreSQL).

Slow, and skipped (saying why) unless both run: ``tools/slurm-up`` and ``tools/mlflow-server-up`` start
them on this machine, ``MB_TEST_TRACKING_SERVER=http://127.0.0.1:5000`` names the server. ``.ci/run``
does all three and runs this module. Each test writes to its own MLflow experiment on the server.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from bench import tracking
from bench.checkpoints import load_checkpoint
from bench.cli import main
from bench.config import config_path
from bench.experiment import load_experiment
from bench.experiment.scheduler import job_states
from bench.experiment.status import experiment_statuses, recorded_ids
from tests.conftest import REPO
from tests.test_train_resume import _assert_identical

pytestmark = pytest.mark.slow
GRID = config_path("experiments", "synthetic-grid.yaml")
SERVER_ENV = "MB_TEST_TRACKING_SERVER"


@pytest.fixture
def cluster(monkeypatch, tmp_path):
    """A SLURM cluster and the tracking server, this test's own experiment on it, and a scratch folder.
    Without them the tests skip, saying why; with ``MB_REQUIRE_CLUSTER=1`` (CI, which starts them) they fail."""
    absent = pytest.fail if os.environ.get("MB_REQUIRE_CLUSTER") == "1" else pytest.skip
    try:
        import submitit  # noqa: F401
    except ImportError:
        absent("submitit is not installed (pip install -e \".[cluster]\")")
    try:
        subprocess.run(["sinfo", "-h"], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        absent("no SLURM cluster answers sinfo (tools/slurm-up starts one on this machine)")
    server = os.environ.get(SERVER_ENV)
    if not server:
        absent(f"{SERVER_ENV} is not set (tools/mlflow-server-up starts an MLflow server on PostgreSQL)")
    try:
        urllib.request.urlopen(server.rstrip("/") + "/health", timeout=5).close()
    except OSError as exc:
        absent(f"the MLflow server {server} does not answer ({exc})")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv(tracking.EXPERIMENT_ENV, f"cluster-test-{uuid.uuid4().hex[:8]}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _wait_until(predicate, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _statuses(experiment):
    return {s.label: s for s in experiment_statuses(experiment, job_states(recorded_ids(experiment)))}


def test_the_tiny_grid_runs_as_slurm_jobs_tracked_on_the_server(cluster, capsys):
    """Every cell a SLURM job (the trainings one array, each evaluation after its training), the table
    from the server, and a second submission runs nothing."""
    assert main(["sweep", str(GRID), "--executor", "slurm", "--wait"]) == 0
    capsys.readouterr()
    experiment = load_experiment(GRID)
    statuses = _statuses(experiment)
    assert {s.state for s in statuses.values()} == {"complete"} and all(s.record for s in statuses.values())
    train_jobs = {statuses[cell.label].record.job_id for cell in experiment.train}
    assert len({job.split("_")[0] for job in train_jobs}) == 1 and len(train_jobs) == 4  # one job array
    runs = {(r.data.tags.get("mb.kind"), r.data.tags["mb.job_id"]): r for r in tracking.find_runs({}, kind=None)
            if r.data.tags.get("mb.status") == "complete"}
    for cell in experiment.train:  # every run was made by the job recorded for its cell
        assert ("train", statuses[cell.label].record.job_id) in runs
    for job in experiment.evals:
        run = runs["eval", statuses[job.label].record.job_id]
        assert run.data.tags["mb.task"] == job.task and run.data.tags.get("mb.train_seed") == (
            None if job.train_seed is None else str(job.train_seed))
        if job.train is not None:  # afterok: the evaluation started once its training had ended
            trained = runs["train", statuses[job.train].record.job_id]
            assert run.info.start_time >= trained.info.end_time
    assert main(["report", "table1", "--ci"]) == 0
    table = capsys.readouterr().out
    assert all(name in table for name in ("| Copy source", "FOMM", "MRAA")) and "over 2 training seeds" in table
    assert main(["sweep", str(GRID), "--executor", "slurm"]) == 0
    assert "14 already complete, 0 queued or running, 0 submitted now" in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--partition", "nowhere"], "train resources: no SLURM partition 'nowhere' (partitions: "),
    (["--cpus-per-task", "4096"], "the largest node of partition"),
    (["--mem-gb", "100000"], "GB asked, the largest node of partition"),
])
def test_requests_no_node_can_run_are_one_line(cluster, capsys, flags, message):
    assert main(["sweep", str(GRID), "--executor", "slurm", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (cluster / "runs").exists()  # nothing submitted


RESUME = """
name: resume
methods: [fomm]
datasets: [synthetic]
task: reconstruction
max_videos: 1
metrics: l1
train:
  epochs: 1
  set: [train.num_repeats=8, train.batch_size=2, train.sample_every=1000]
variants: [{name: whole}, {name: cancelled}, {name: preempted}]
resources: {cpus_per_task: 1, mem_gb: 3, time_min: 30}
"""


def _steps_logged(cell) -> int:
    runs = tracking.find_runs({"run_key": cell.key}, kind="train")
    return len(_history(runs[0].info.run_id)) if runs else 0


def _signal_mid_epoch(cell, job_id: str, *scancel: str) -> None:
    """Once the training job has logged 3 of its 24 steps, ``scancel`` it (with ``scancel`` options)."""
    _wait_until(lambda: _steps_logged(cell) >= 3, 600, f"{cell.label} to train 3 steps")
    subprocess.run(["scancel", *scancel, job_id], check=True, timeout=60)


def test_cancelled_and_preempted_trainings_end_with_the_uninterrupted_weights(cluster, capsys):
    """A training job cancelled half-way (scancel) resumes in the next sweep, one signalled as at a time limit
    or a preemption (scancel --signal=USR2) is requeued by submitit; both end with every tensor of the
    checkpoint an uninterrupted job writes."""
    path = cluster / "resume.yaml"
    path.write_text(RESUME)
    experiment = load_experiment(path)
    cells = {cell.variant: cell for cell in experiment.train}
    assert main(["sweep", str(path), "--executor", "slurm"]) == 0
    jobs = {variant: _statuses(experiment)[cell.label].record.job_id for variant, cell in cells.items()}
    _signal_mid_epoch(cells["cancelled"], jobs["cancelled"])
    _signal_mid_epoch(cells["preempted"], jobs["preempted"], "--signal=USR2")
    saved = _wait_until(lambda: not job_states([jobs["cancelled"]]).get(jobs["cancelled"], None).active
                        and load_checkpoint(cells["cancelled"].checkpoint), 300, "the cancelled job to end")
    assert 0 < saved["batch_in_epoch"] < 24 and saved["epoch"] == 0  # saved mid-epoch, on SIGTERM
    _wait_until(lambda: not any(s.active for s in _statuses(experiment).values()), 900, "the other jobs to end")
    statuses = _statuses(experiment)
    cancelled = statuses[cells["cancelled"].label]
    assert cancelled.state == "failed" and "resumes from" in cancelled.detail
    assert statuses[cells["preempted"].label].state == "complete"  # requeued by itself
    shown = subprocess.run(["scontrol", "show", "job", jobs["preempted"]], capture_output=True, text=True).stdout
    assert "Restarts=1" in shown or not shown  # (a cluster that forgot the job shows nothing)
    assert main(["sweep", str(path), "--executor", "slurm", "--wait"]) == 0
    capsys.readouterr()
    for variant in ("cancelled", "preempted"):
        _assert_identical(cells["whole"].checkpoint, cells[variant].checkpoint)
        # one MLflow run, continued where the saved checkpoint stopped: each of the 24 steps logged once
        (run,) = tracking.find_runs({"run_key": cells[variant].key}, kind="train")
        assert sorted(m.step for m in _history(run.info.run_id)) == list(range(1, 25))
    (preempted,) = tracking.find_runs({"run_key": cells["preempted"].key}, kind="train")
    assert preempted.data.tags["mb.job_id"] == jobs["preempted"]  # the same job, requeued
    assert {s.state for s in _statuses(experiment).values()} == {"complete"}


def _history(run_id: str) -> list:
    import mlflow

    return mlflow.tracking.MlflowClient().get_metric_history(run_id, "loss")


DDP = """
name: ddp
methods: [fomm]
datasets: [synthetic]
task: reconstruction
max_videos: 2
metrics: l1
train:
  epochs: 1
  set: [train.num_repeats=1, train.batch_size=2, train.sample_every=1000]
resources: {tasks_per_node: 2, cpus_per_task: 1, mem_gb: 3, time_min: 30}
"""


def test_a_cell_with_two_tasks_trains_and_evaluates_as_one_process_group(cluster, capsys):
    """Two tasks in one job join one gloo process group, as under torchrun: DDP training (the global batch
    split in two) and the videos dealt to both processes."""
    path = cluster / "ddp.yaml"
    path.write_text(DDP)
    assert main(["sweep", str(path), "--executor", "slurm", "--wait"]) == 0
    experiment = load_experiment(path)
    assert load_checkpoint(experiment.train[0].checkpoint)["world_size"] == 2
    for kind in ("train", "eval"):
        (run,) = [r for r in tracking.find_runs({"status": "complete"}, kind=kind)]
        assert run.data.params["world_size"] == "2"


def test_concurrent_bench_runs_lose_nothing_on_the_server(cluster):
    """Six bench run processes at once, each a run of its own: all six complete on the server with their
    numbers (tools/tracking-stress measures more writers)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "bench", "run", "--method", "copy-source", "--dataset",
                               "synthetic", "--task", "reconstruction", "--max-videos", "1", "--metrics", "l1,psnr",
                               "--variant", f"writer{i}", "--out", str(cluster / f"w{i}")],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(6)]
    for proc in procs:
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-2000:]
    runs = tracking.find_runs({"status": "complete"})
    assert sorted(r.data.tags["mb.variant"] for r in runs) == [f"writer{i}" for i in range(6)]
    assert all({"l1", "psnr", "l1_ci_low"} <= set(r.data.metrics) for r in runs)
