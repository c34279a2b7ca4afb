"""Files a tracked run keeps as MLflow artifacts: finding them, reading them in place or downloading them.

Reports, figures, the HTML page and the regression gate read each run's ``per_video.csv`` (its
per-video values and scored-frame counts) through :func:`per_video_table`; a local artifact store
is read in place, a remote one downloaded into a temporary folder.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, ContextManager
from unittest import mock

import pandas as pd

PER_VIDEO_FILE = "per_video.csv"


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
