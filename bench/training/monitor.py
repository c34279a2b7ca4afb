"""What a training run reports: MLflow params / metrics / sample grids and a tqdm progress bar.

Only rank 0 reports; other ranks get :class:`NullMonitor`, so the trainer calls the same
methods everywhere.
"""
from __future__ import annotations

import platform
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from bench import tracking

#: packages whose versions are recorded with every training run
TRACKED_PACKAGES = ("motionbench", "torch", "torchvision", "numpy", "mlflow")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def sample_grid(source: torch.Tensor, driving: torch.Tensor, generated: torch.Tensor) -> np.ndarray:
    """Rows of ``source | driving | generated`` (``B x 3 x H x W`` in [0, 1]) as an ``H' x W' x 3`` uint8 image."""
    rows = torch.cat([source, driving, generated.to(source)], dim=-1)  # B x 3 x H x 3W
    image = torch.cat(list(rows), dim=-2)  # 3 x BH x 3W
    return (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)


class NullMonitor:
    """Reports nothing (ranks other than 0)."""

    run_id: str | None = None

    def log_metrics(self, values: Mapping[str, float], step: int) -> None:
        pass

    def log_sample(self, grid: np.ndarray, step: int) -> None:
        pass

    def set_checkpoint(self, path: Path) -> None:
        pass

    def progress(self, total: int, initial: int) -> "tqdm | None":
        return None

    def mark_interrupted(self) -> None:
        pass

    def mark_complete(self) -> None:
        pass


class MlflowMonitor(NullMonitor):
    """Logs into one MLflow run; sample grids are also written to ``<out>/samples``."""

    def __init__(self, mlflow: Any, out_dir: Path) -> None:
        self.mlflow = mlflow
        self.out_dir = out_dir
        self.run_id = mlflow.active_run().info.run_id

    def log_metrics(self, values: Mapping[str, float], step: int) -> None:
        self.mlflow.log_metrics({k: float(v) for k, v in values.items()}, step=step)

    def log_sample(self, grid: np.ndarray, step: int) -> None:
        path = self.out_dir / "samples" / f"step-{step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(path)
        self.mlflow.log_artifact(str(path), artifact_path="samples")

    def set_checkpoint(self, path: Path) -> None:
        self.mlflow.set_tags(tracking.tags(checkpoint=str(Path(path).resolve())))

    def mark_interrupted(self) -> None:
        """Tag the run and end it as KILLED (it can be continued with --resume)."""
        self.mlflow.set_tags(tracking.tags(status="interrupted"))
        self.mlflow.end_run(status="KILLED")

    def mark_complete(self) -> None:
        """Tag the run ``mb.status=complete``: every epoch of the stage is trained (a sweep skips it)."""
        self.mlflow.set_tags(tracking.tags(status="complete"))

    def progress(self, total: int, initial: int) -> tqdm:
        return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, desc="train")


@contextmanager
def open_monitor(is_main: bool, out_dir: Path, run_name: str, run_tags: Mapping[str, str],
                 params: Mapping[str, Any] | None, run_id: str | None = None) -> Iterator[NullMonitor]:
    """An MLflow-backed monitor on the main process (continuing ``run_id`` when given), else a null one."""
    if not is_main:
        yield NullMonitor()
        return
    with tracking.start_run(run_name, run_tags, params, run_id=run_id) as mlflow:
        yield MlflowMonitor(mlflow, out_dir)
