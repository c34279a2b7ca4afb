"""MLflow tracking: where runs go, how they are tagged, and a reachability check.

Every run carries ``mb.*`` tags so that reports can find it without parsing names:

========================  ==============================================================
tag                       meaning
========================  ==============================================================
``mb.kind``               ``train`` or ``eval``
``mb.method``             registry name of the method
``mb.dataset``            dataset evaluated on (eval) or trained on (train)
``mb.train_dataset``      dataset the checkpoint was trained on (eval; generality runs)
``mb.task``               ``reconstruction`` or ``animation`` (eval)
``mb.variant``            free label of an ablation / sweep cell, e.g. ``full``, ``no_motion_evolution``
``mb.num_refs``           number of reference views N
``mb.seed``               seed of the protocol
``mb.convention``         how frame-wise metrics were averaged (``fomm``: frames pooled; ``video-mean``)
``mb.run_key``            hash of the settings above; a sweep skips a key already complete
``mb.status``             ``complete`` once every video is done and the summary is logged (train: every epoch)
``mb.train_seed``         training seed of the evaluated checkpoint (a sweep's ``train: {seeds: [...]}``)
``mb.experiment``         the experiment file's name (runs of ``bench sweep``)
``mb.job_id``             the SLURM job that made the run (``bench sweep --executor slurm``)
``mb.na.<metric>``        why ``<metric>`` is not available for this run
========================  ==============================================================

Metric names: ``<metric>`` (mean over videos), ``<metric>_std`` and, for the
best-of-references protocol, ``<metric>_best``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from bench.errors import UserError, first_line

#: MLflow's usage telemetry stays off: nothing leaves the machine, and its client thread removes an environment
#: variable while HTTP requests to a tracking server read the environment, which failed 1 of 64 runs of 32
#: concurrent writers (KeyError '_MLFLOW_TELEMETRY_SESSION_ID'; tools/tracking-stress). Before any mlflow import.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

EXPERIMENT_ENV = "MOTIONBENCH_EXPERIMENT"
DEFAULT_EXPERIMENT = "motionbench"
TAG_PREFIX = "mb."


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else a SQLite store ``mlflow.db`` in the working directory."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def experiment_name() -> str:
    return os.environ.get(EXPERIMENT_ENV, DEFAULT_EXPERIMENT)


def ensure_reachable(uri: str | None = None, timeout: float = 5.0) -> None:
    """Fail fast (before any compute) when a remote tracking server does not answer."""
    uri = uri or tracking_uri()
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as reply:
            if reply.status >= 400:
                raise UserError(f"MLflow tracking server {uri} answered HTTP {reply.status}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(f"MLflow tracking server {uri} cannot be reached ({reason})") from None


def run_key(**settings: Any) -> str:
    """Stable hash of the settings that identify a run (order-independent)."""
    blob = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def tags(**values: Any) -> dict[str, str]:
    """``mb.``-prefixed string tags from keyword values (None dropped)."""
    return {TAG_PREFIX + k: str(v) for k, v in values.items() if v is not None}


#: modules whose exceptions mean the tracking store cannot be used (not a bug of ours)
_STORE_MODULES = ("mlflow", "sqlalchemy", "sqlite3", "alembic", "requests", "urllib3", "http")


@contextmanager
def store_errors() -> Iterator[None]:
    """Turn a failure of the tracking store (unreachable server, corrupt or locked database, permission)
    into one line naming the store."""
    try:
        yield
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - filtered to store failures below
        if not (isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in _STORE_MODULES):
            raise
        raise UserError(f"MLflow tracking store {tracking_uri()} cannot be used: {first_line(exc, 300)}") from None


def _mlflow() -> tuple[Any, str]:
    """The ``mlflow`` module pointed at :func:`tracking_uri`, with :func:`experiment_name` (created when missing)
    the active experiment; and that experiment's id."""
    ensure_reachable()  # a remote store that does not answer fails in seconds, not after minutes
    import mlflow  # heavy import, only when tracking is used

    for name in ("mlflow", "alembic"):  # their INFO lines (creating tables, experiments) are not ours to print
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # nor a server's run URLs

    with store_errors():
        mlflow.set_tracking_uri(tracking_uri())
        experiment_id = _experiment_id(mlflow)
        mlflow.set_experiment(experiment_id=experiment_id)
    return mlflow, experiment_id


def _experiment_id(mlflow: Any) -> str:
    """The id of the experiment named :func:`experiment_name`, created when missing.

    Not ``mlflow.set_experiment(name)``: when several processes create the experiment at once, the one whose
    creation loses the race returns without making it active (MLflow 3.18), and its runs go to
    ``MLFLOW_EXPERIMENT_ID``, which ``set_experiment`` exports to child processes, i.e. to the parent's
    experiment, or else to Default (1 run of 180 concurrent ``bench run`` processes; tests/test_tracking.py)."""
    client, name = mlflow.tracking.MlflowClient(), experiment_name()
    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name)
        except mlflow.exceptions.MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            found = client.get_experiment_by_name(name)
    return found.experiment_id


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping -> ``a.b.c`` keys with string values (MLflow params are flat strings)."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = str(value)[:6000]
    return out


@contextmanager
def start_run(run_name: str, run_tags: Mapping[str, str], params: Mapping[str, Any] | None = None,
              run_id: str | None = None) -> Iterator[Any]:
    """Open an MLflow run with tags and flattened params; yields the ``mlflow`` module.

    With ``run_id`` an existing run is continued (e.g. a resumed training run)."""
    mlflow, _ = _mlflow()
    with store_errors():
        active = mlflow.start_run(run_id=run_id, run_name=None if run_id else run_name, tags=dict(run_tags))
    with active:  # ended (FAILED) when logging its params fails too: the process can open another run
        with store_errors():
            items = list(flatten(params or {}).items())
            for i in range(0, len(items), 100):
                mlflow.log_params(dict(items[i:i + 100]))
        yield mlflow


def find_runs(filter_tags: Mapping[str, str] | None = None, kind: str | None = "eval") -> list[Any]:
    """Runs of the experiment whose ``mb.*`` tags match ``filter_tags`` (newest first)."""
    mlflow, experiment_id = _mlflow()
    clauses = []
    wanted = dict(filter_tags or {})
    if kind:
        wanted["kind"] = kind
    for key, value in wanted.items():
        name = key if key.startswith(TAG_PREFIX) else TAG_PREFIX + key
        clauses.append(f"tags.`{name}` = '{value}'")
    with store_errors():
        return mlflow.tracking.MlflowClient().search_runs([experiment_id], filter_string=" and ".join(clauses),
                                                          order_by=["attributes.start_time DESC"], max_results=50000)
