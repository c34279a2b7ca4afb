"""Helpers shared by the runner and sweep tests: a synthetic root, runs, independent reference numbers."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from bench.datasets import get_dataset, resolve_root
from bench.datasets.sampling import reference_indices
from bench.datasets.video_io import list_videos, read_video
from bench.runner import RunSettings, run

SYNTHETIC = get_dataset("synthetic")


def synthetic_videos(count: int):
    """The first ``count`` test videos of the synthetic set (sorted by name, as the runner takes them)."""
    root = resolve_root(SYNTHETIC)
    return sorted(list_videos(root, "test", SYNTHETIC), key=lambda v: v.name)[:count]


def frames01(path: Path, size=(64, 64)) -> np.ndarray:
    """``T x H x W x 3`` float64 in [0, 1], read independently of the runner."""
    return read_video(path, size).astype(np.float64) / 255.0


def copy_source_l1(videos, refs: int = 0, seed: int = 0) -> tuple[float, float | None]:
    """Reconstruction L1 of copy-source (frame 0 repeated), and its best-of-references value.

    Per video: mean over frames of the mean absolute difference; then the mean over videos.
    """
    plain, best = [], []
    for video in videos:
        frames = frames01(video.path)
        l1 = lambda src: float(np.mean([np.abs(src - f).mean() for f in frames]))  # noqa: E731
        plain.append(l1(frames[0]))
        if refs:
            picks = reference_indices(video.name, len(frames), refs, seed, exclude=0)
            best.append(min(l1(frames[i]) for i in picks))
    return float(np.mean(plain)), (float(np.mean(best)) if refs else None)


def quick_settings(out: Path | None, **overrides) -> RunSettings:
    """copy-source on 3 synthetic videos, reconstruction, cheap metrics, no tracking."""
    values = dict(method="copy-source", dataset="synthetic", task="reconstruction", max_videos=3,
                  metrics=["l1", "psnr", "ssim"], out=None if out is None else str(out), track=False)
    values.update(overrides)
    return RunSettings(**values)


def run_quick(out: Path | None, **overrides):
    return run(quick_settings(out, **overrides))


def summary(out: Path) -> dict:
    return json.loads((Path(out) / "summary.json").read_text())


class CheapInception(torch.nn.Module):
    """Stand-in for pytorch-fid's InceptionV3 in plumbing tests: a fixed random 64-d pooled
    projection (the FID maths, states, merging and caching run for real). Counts frames seen."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.weight = torch.nn.Parameter(torch.randn(64, 3, 8, 8, generator=generator) / 8, requires_grad=False)
        self.frames = 0

    def forward(self, frames: torch.Tensor) -> list[torch.Tensor]:
        self.frames += len(frames)
        features = torch.tanh(torch.nn.functional.conv2d(frames, self.weight, stride=8))
        return [torch.nn.functional.adaptive_avg_pool2d(features, 1)]


def use_cheap_inception(monkeypatch) -> CheapInception:
    """Make every FID built from now on use one :class:`CheapInception` (returned)."""
    import bench.metrics.fid as fid

    net = CheapInception()
    monkeypatch.setattr(fid, "build_inception", lambda *args, **kwargs: net)
    return net
