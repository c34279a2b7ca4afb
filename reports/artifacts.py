"""Files a tracked run keeps as MLflow artifacts: finding them, reading them in place or downloading them.

The HTML report also reads each run's saved videos (:func:`fetch_run_files`).

Reports, figures, the HTML page and the regression gate read each run's ``per_video.csv`` (its
per-video values and scored-frame counts) through :func:`per_video_table`; a local artifact store
is read in place, a remote one downloaded into a temporary folder.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ContextManager, Iterable
from unittest import mock

import pandas as pd

from bench.errors import first_line

PER_VIDEO_FILE = "per_video.csv"
VIDEO_ARTIFACTS = "videos"


def quiet_artifact_downloads() -> ContextManager[Any]:
    """MLflow's artifact download progress bars off inside the block (the setting is restored after)."""
    return mock.patch.dict(os.environ, {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"})


def local_artifact_root(artifact_uri: str | None) -> Path | None:
    """The folder of a run's artifacts when the store keeps them on this machine (else None)."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    if not artifact_uri:
        return None
    parsed = urlparse(artifact_uri)
    if parsed.scheme not in ("", "file") or parsed.netloc not in ("", "localhost"):
        return None
    root = Path(url2pathname(parsed.path))
    return root if root.is_dir() else None


def find_artifact(run_id: str, name: str = PER_VIDEO_FILE) -> str | None:
    """Artifact path of the first file called ``name`` in a run (searched breadth first)."""
    from mlflow.tracking import MlflowClient

    from bench import tracking

    client = MlflowClient(tracking.tracking_uri())
    pending = [None]
    while pending:
        folder = pending.pop(0)
        for info in client.list_artifacts(run_id, folder):
            if info.is_dir:
                pending.append(info.path)
            elif Path(info.path).name == name:
                return info.path
    return None


def per_video_table(run_id: str, artifact_uri: str | None = None) -> pd.DataFrame | None:
    """A run's ``per_video.csv`` (None when it has none), read in place from a local store."""
    import mlflow

    from bench import tracking

    path = find_artifact(run_id)
    if path is None:
        return None
    root = local_artifact_root(artifact_uri)
    if root is not None and (root / path).is_file():
        return pd.read_csv(root / path)
    mlflow.set_tracking_uri(tracking.tracking_uri())
    with quiet_artifact_downloads(), tempfile.TemporaryDirectory() as tmp:
        return pd.read_csv(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=tmp))


@dataclass
class RunFiles:
    """What the report reads of one run: its per-video metrics and its side-by-side videos."""

    per_video: pd.DataFrame | None = None
    videos: dict[str, Path] = field(default_factory=dict)  # artifact file name -> local copy
    problem: str | None = None  # why the artifacts could not be read


def fetch_run_files(run_ids: Iterable[str], work_dir: Path) -> dict[str, RunFiles]:
    """``per_video.csv`` and ``videos/*.mp4`` of each run: read in place from a local artifact store,
    else downloaded into ``work_dir``.

    Local files are read directly because MLflow refuses to download artifact paths with ``#``,
    which videos of runs before the file names dropped it have. A run whose artifacts cannot be
    read is kept with the reason (the page says so) rather than failing the whole report.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    from bench import tracking

    out: dict[str, RunFiles] = {}
    with quiet_artifact_downloads():
        with tracking.store_errors():
            mlflow.set_tracking_uri(tracking.tracking_uri())
            client = MlflowClient()
        for run_id in run_ids:
            files = out[run_id] = RunFiles()
            try:
                root = local_artifact_root(client.get_run(run_id).info.artifact_uri)

                def fetch(path: str) -> Path:
                    if root is not None:
                        return root / path
                    return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path,
                                                                    dst_path=str(work_dir / run_id)))
                path = find_artifact(run_id)
                if path is not None:
                    files.per_video = pd.read_csv(fetch(path))
                for info in client.list_artifacts(run_id, VIDEO_ARTIFACTS):
                    if not info.is_dir and info.path.endswith(".mp4"):
                        files.videos[Path(info.path).name] = fetch(info.path)
            except Exception as exc:  # noqa: BLE001 - one unreadable run must not hide the others
                files.problem = f"artifacts of run {run_id} could not be read: {first_line(exc, 300)}"
    return out
