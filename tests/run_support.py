"""Helpers shared by the runner and sweep tests: a synthetic root, runs, independent reference numbers."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.datasets import get_dataset, resolve_root
from bench.datasets.sampling import reference_indices
from bench.datasets.video_io import list_videos, read_video
from bench.errors import UserError
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
    """Reconstruction L1 of copy-source (frame 0 repeated), and its best-of-references value, as FOMM's
    reconstruction.py pools it: the mean absolute difference of every frame of every video pooled.
    Best of references: per video, the reference frame whose video L1 is lowest is the source."""
    plain, best = [], []
    for video in videos:
        frames = frames01(video.path)
        per_frame = lambda src: [float(np.abs(src - f).mean()) for f in frames]  # noqa: E731
        plain += per_frame(frames[0])
        if refs:
            picks = reference_indices(video.name, len(frames), refs, seed, exclude=0)
            best += min((per_frame(frames[i]) for i in picks), key=np.mean)
    return float(np.mean(plain)), (float(np.mean(best)) if refs else None)


def first_video_l1(model) -> float:
    """Reconstruction L1 of ``model`` on the first synthetic test video (source: its first frame), computed
    here, outside the runner."""
    frames = torch.from_numpy(frames01(synthetic_videos(1)[0].path)).float().permute(0, 3, 1, 2)
    with torch.no_grad():
        generated = model.generate(frames[:1].expand_as(frames), frames).clamp(0, 1)
    return float((generated - frames).abs().flatten(1).mean(1).mean())


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


def numbers(out: Path) -> dict:
    """The summary without its ``run`` record (settings such as ``out`` or the process count differ)."""
    return {k: v for k, v in summary(out).items() if k != "run"}


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


# --- the learning check: reconstruction L1 of a trained checkpoint against copy-source (bench run's numbers)

COPY_SOURCE = "copy-source"


@dataclass(frozen=True)
class LearningCheck:
    """Reconstruction L1 of the trained method and of copy-source on the same test videos."""

    method: str
    l1: float
    copy_source_l1: float

    @property
    def ratio(self) -> float:
        return self.l1 / self.copy_source_l1

    def passed(self, margin: float = 0.9) -> bool:
        """Whether the method beats copy-source clearly (its L1 below ``margin`` x the baseline's)."""
        return self.l1 < margin * self.copy_source_l1


def reconstruction_l1(method: str, dataset: str, checkpoint: str | Path | None = None, root: str | Path | None = None,
                      device: str | None = None, max_videos: int | None = None, out: str | Path | None = None) -> float:
    """Mean per-video L1 of the reconstruction protocol on the test split (not tracked in MLflow)."""
    from bench.runner import RunSettings, run

    settings = RunSettings(method=method, dataset=dataset, root=None if root is None else str(root),
                           checkpoint=None if checkpoint is None else str(checkpoint), task="reconstruction",
                           metrics=["l1"], best_of_refs=False, device=device, max_videos=max_videos,
                           out=None if out is None else str(out), track=False)
    (report,) = run(settings)
    result = report.results.get("l1")
    if result is None or not result.available:
        reason = report.skipped.get("l1") or (result.na_reason if result else "not computed")
        raise UserError(f"reconstruction L1 of {method} on {dataset} is not available: {reason}")
    return float(result.value)


def learning_check(method: str, checkpoint: str | Path, dataset: str = "synthetic", root: str | Path | None = None,
                   device: str | None = None, max_videos: int | None = None,
                   out: str | Path | None = None) -> LearningCheck:
    """L1 of ``checkpoint`` and of copy-source on ``dataset``'s test split (results under ``out``
    when given, else the runner's default folders)."""
    folder = (lambda name: None) if out is None else (lambda name: Path(out) / name)
    trained = reconstruction_l1(method, dataset, checkpoint, root, device, max_videos, folder(method))
    baseline = reconstruction_l1(COPY_SOURCE, dataset, None, root, device, max_videos, folder(COPY_SOURCE))
    return LearningCheck(method, trained, baseline)


def learned_networks(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    """Sub-networks (first key component) whose learnable float tensors changed between two model states."""
    return {k.split(".")[0] for k, v in after.items()
            if v.is_floating_point() and not k.endswith(("running_mean", "running_var")) and not torch.equal(v, before[k])}


def batchnorm_statistics_moved(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor], network: str) -> bool:
    """Whether any BatchNorm running mean of ``network`` changed (it ran in train mode)."""
    return any(not torch.equal(after[k], before[k]) for k in after
               if k.startswith(network) and k.endswith("running_mean"))


def tiny_movie(path: Path, frames: int = 3, step: int = 50) -> None:
    """A 64x64 H.264 mp4 at 25 fps of ``frames`` flat grey frames (``step * k`` for frame k): cheap video input."""
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for k in range(frames):
            image = np.full((64, 64, 3), step * k, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
