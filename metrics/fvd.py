"""FVD (Unterthiner et al. 2018) in StyleGAN-V's ``fvd2048_16f`` convention.

universome/stylegan-v (``src/metrics/metric_main.py`` ``fvd2048_16f``,
``src/metrics/frechet_video_distance.py`` ``compute_fvd``, ``metric_utils.py``,
``src/training/dataset.py`` ``VideoFramesFolderDataset``) computes FVD as follows, reproduced here:

- clips: 16 consecutive frames (``num_frames=16``, ``subsample_factor=1``), one clip per video,
  at most 2048 clips per side (``max_real=2048, num_gen=2048``: the first 2048 videos, here in
  name order); videos shorter than 16 frames are left out (``discard_short_videos=True``);
- real clips start at a uniformly random offset (``load_n_consecutive_random_offset=True``:
  ``random.randint(0, n - 16)``); generated clips are the first 16 frames (the generator is run
  for ``t = 0..15``; a generated video folder is read with ``load_n_consecutive_random_offset=False``);
- frames enter the detector as uint8 (the generator's ``(x * 127.5 + 128).clamp(0, 255)`` cast,
  i.e. ``floor(255 v + 0.5)`` for frames ``v`` in [0, 1]), as ``B x 3 x T x H x W`` at their own
  size; StyleGAN-V's TorchScript I3D (:mod:`bench.metrics.i3d`) is called with
  ``rescale=True, resize=True, return_features=True``: it scales to [-1, 1], resizes to 224 and
  returns 400-d features;
- statistics are the mean and the population covariance (``FeatureStats.get_mean_cov``:
  ``sum(x x^T) / n - mu mu^T``, ddof 0), and FVD is the Frechet distance of the two Gaussians.

Here the real clips are the driving videos' (reconstruction: each test video; animation: the
driving video of each pair, each distinct clip once). StyleGAN-V draws the offset from Python's
unseeded ``random`` in its data-loader workers; here it is drawn from a generator seeded by
``seed`` and the content of the video's first frame (so a driving video shared by several pairs
gets the same clip, whatever the item's name, batch size, order or process), and recorded per
video in the ``real_offset`` state; ``seed`` is in the result's ``extra`` (``clip_seed``). Because the
runner streams a video in batches without its length, the offset is chosen by reservoir sampling
over the clip starts (start ``s`` replaces the kept clip with probability ``1 / (s + 1)``), which is
uniform over ``0 .. n - 16`` as ``randint`` is. The kept clip's features are extracted once the
video's frames have been seen (at :meth:`FVD.state`, :meth:`FVD.compute` or when the next video
starts); the generated clip's as soon as its 16th frame arrives. A video's frames must arrive
together and in order.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench import weights
from bench.metrics.aggregation import Measurement
from bench.metrics.base import Backend, Metric, MetricInfo, TaskUse
from bench.metrics.frechet import FrechetStats, ResampledFrechet, frechet_distance
from bench.metrics.frame_average import check_pair
from bench.metrics.i3d import I3DFeatures, load_i3d

CLIP_FRAMES = 16
MAX_CLIPS = 2048
CLIP_SEED = 0


def quantize(frames: torch.Tensor) -> torch.Tensor:
    """Frames in [0, 1] -> uint8 as StyleGAN-V casts generator output: ``floor(255 v + 0.5)`` (round half up)."""
    return (frames.float() * 255.0 + 0.5).clamp(0.0, 255.0).to(torch.uint8)


def _digest(tensor: torch.Tensor) -> bytes:
    data = np.ascontiguousarray(tensor.detach().cpu().numpy())
    return hashlib.sha256(repr(tuple(data.shape)).encode() + data.tobytes()).digest()


class ClipReservoir:
    """Which clip start to keep, for a stream of unknown length: start ``s`` (0, 1, 2, ...) is kept with
    probability ``1 / (s + 1)`` (reservoir sampling of one), so the last start kept is uniform over all starts.

    Draws come from a generator seeded by ``seed`` and ``key`` (bytes identifying the video).
    """

    def __init__(self, seed: int, key: bytes) -> None:
        words = np.frombuffer(hashlib.sha256(key).digest()[:16], dtype=np.uint32)
        self.rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), *map(int, words)])))
        self.starts = 0

    def offer(self) -> bool:
        """Whether the next start replaces the kept one."""
        start = self.starts
        self.starts += 1
        return bool(self.rng.integers(0, start + 1) == 0)


@dataclass
class _Stream:
    """The video being fed: its first generated frames and its real clip candidates (dropped at the next video)."""

    video: str
    generated: list[torch.Tensor] = field(default_factory=list)
    generated_done: bool = False
    window: list[torch.Tensor] = field(default_factory=list)
    real_seen: int = 0
    reservoir: ClipReservoir | None = None
    kept: torch.Tensor | None = None  # T x 3 x H x W uint8
    offset: int = 0
    pending: bool = False


class FVD(Metric):
    """Frechet Video Distance between generated and real 16-frame clips, one clip per video (lower is better).

    ``reference`` (:class:`FrechetStats` of real clip features, ddof 0) fixes the real side;
    ``features`` replaces the I3D extractor (any ``B x 3 x T x H x W`` uint8 -> ``B x D`` module);
    ``seed`` seeds the real clip offsets; ``clip_frames`` and ``max_clips`` are StyleGAN-V's 16 and 2048.
    """

    info = MetricInfo(
        "fvd", "FVD", higher_is_better=False, decimals=1, distribution=True,
        tasks={"reconstruction": TaskUse("driving", default=False), "animation": TaskUse("driving", default=False)},
        backends=(Backend("i3d", weights=(weights.I3D_FVD,),
                          reference="StyleGAN-V's TorchScript I3D (Kinetics-400, port of the TF-Hub model of the "
                                    "original FVD), rescale=True, resize=True (224), return_features=True: 400-d"),),
        reference="StyleGAN-V fvd2048_16f (universome/stylegan-v src/metrics/frechet_video_distance.py): one "
                  "16-frame clip per video (real: uniform random offset, seeded here; generated: first 16 frames), "
                  "at most 2048 clips, uint8 clips through the I3D TorchScript, Frechet distance of mean and "
                  "population covariance; real clips from the driving videos (each distinct clip once)")
    cache_name = "fvd"

    def __init__(self, device: torch.device | str = "cpu", target: str = "driving",
                 weights_dir: str | Path | None = None, allow_download: bool = False,
                 reference: FrechetStats | None = None, features: torch.nn.Module | None = None,
                 seed: int = CLIP_SEED, clip_frames: int = CLIP_FRAMES, max_clips: int = MAX_CLIPS) -> None:
        super().__init__(device, target)
        if target != "driving":
            raise ValueError("FVD compares clips with the driving videos (target='driving')")
        if features is None:
            features = I3DFeatures(load_i3d(weights_dir, allow_download))
        self.features = features.to(self.device).eval()
        self.reference = reference
        self.seed, self.clip_frames, self.max_clips = int(seed), int(clip_frames), int(max_clips)
        self.add_state("generated", "cat")  # per video: features of its first clip (one row)
        self.add_state("real", "cat")  # per video: features of its chosen real clip (one row)
        self.add_state("real_key", "cat")  # per video: 63-bit content hash of that clip (distinct clips counted once)
        self.add_state("real_offset", "sum")  # per video: first frame of that clip
        self.add_state("frames", "sum")  # per video: frames seen (videos shorter than a clip are left out)
        self._stream: _Stream | None = None

    # ------------------------------------------------------------------ streaming
    @torch.no_grad()
    def _clip_features(self, clip: torch.Tensor) -> np.ndarray:
        """``T x 3 x H x W`` uint8 -> ``1 x D`` float32 features of the ``1 x 3 x T x H x W`` clip."""
        batch = clip.permute(1, 0, 2, 3).unsqueeze(0).contiguous()
        return self.features(batch).flatten(1).cpu().numpy().astype(np.float32)

    def _flush(self) -> None:
        """Features of the open video's kept real clip (if not extracted yet) into the states."""
        stream = self._stream
        if stream is None or not stream.pending or stream.kept is None:
            return
        key = int.from_bytes(_digest(stream.kept)[:8], "little") & ((1 << 63) - 1)
        self.real[stream.video] = [self._clip_features(stream.kept)]
        self.real_key[stream.video] = [np.array([key], dtype=np.int64)]
        self.real_offset[stream.video] = stream.offset
        stream.pending = False

    def _stream_for(self, video: str) -> _Stream:
        if self._stream is not None and self._stream.video == video:
            return self._stream
        self._flush()
        if video in self.frames:
            raise ValueError(f"FVD: the frames of video '{video}' must arrive together and in order")
        self._stream = _Stream(video)
        return self._stream

    def _offer_real(self, stream: _Stream, frames: torch.Tensor) -> None:
        if stream.reservoir is None:
            stream.reservoir = ClipReservoir(self.seed, _digest(frames[0]))
        for frame in frames:
            stream.window.append(frame)
            if len(stream.window) > self.clip_frames:
                stream.window.pop(0)
            stream.real_seen += 1
            if len(stream.window) == self.clip_frames and stream.reservoir.offer():
                stream.kept = torch.stack(stream.window)
                stream.offset = stream.real_seen - self.clip_frames
                stream.pending = True

    @torch.no_grad()
    def update(self, generated: torch.Tensor, target: torch.Tensor | None, video: str = "") -> None:
        check_pair(generated, target)
        use_real = self.reference is None
        if use_real and target is None:
            raise ValueError("FVD needs the driving frames when no reference statistics are given")
        stream = self._stream_for(video)
        self.accumulate("frames", video, int(len(generated)))
        if not stream.generated_done:
            needed = self.clip_frames - len(stream.generated)
            stream.generated.extend(quantize(generated[:needed].to(self.device)))
            if len(stream.generated) == self.clip_frames:
                self.accumulate("generated", video, self._clip_features(torch.stack(stream.generated)))
                stream.generated, stream.generated_done = [], True
        if use_real:
            self._offer_real(stream, quantize(target.to(self.device)))

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        super().reset()
        self._stream = None

    def state(self) -> dict[str, Any]:
        self._flush()
        return super().state()

    # ------------------------------------------------------------------ computing
    @staticmethod
    def _rows(per_video: dict[str, list[np.ndarray]], videos: list[str]) -> np.ndarray:
        chunks = [chunk for video in videos for chunk in per_video[video]]
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)

    def generated_clips(self) -> np.ndarray:
        """Features of the generated clips, one per video in name order, at most ``max_clips``."""
        return self._rows(self.generated, sorted(self.generated)[: self.max_clips])

    def real_clips(self) -> np.ndarray:
        """Features of the distinct real clips, in video name order, at most ``max_clips``."""
        self._flush()
        chosen, seen = [], set()
        for video in sorted(self.real):
            key = int(np.concatenate(self.real_key[video])[0])
            if key not in seen:
                seen.add(key)
                chosen.append(video)
        return self._rows(self.real, chosen[: self.max_clips])

    def real_reference(self) -> FrechetStats | None:
        """Statistics of the real clips seen so far (to cache); None with fewer than 2 clips."""
        if self.reference is not None:
            return self.reference
        rows = self.real_clips()
        return FrechetStats.from_features(rows, ddof=0) if len(rows) >= 2 else None

    def cache_convention(self) -> str:
        return (f"one {self.clip_frames}-frame clip per video (stride 1) at a uniform offset drawn with seed "
                f"{self.seed} (StyleGAN-V fvd2048_16f), distinct clips once, at most {self.max_clips} clips, "
                "population covariance")

    def compute(self) -> Measurement:
        """The distance of the generated clips to the real ones; a bootstrap resample of the videos reweights the
        generated clips (one per video) against the same real statistics."""
        self._flush()
        generated = self.generated_clips()
        real = self.real_reference()
        short = sum(1 for count in self.frames.values() if count < self.clip_frames)
        extra = {"generated_clips": float(len(generated)), "real_clips": float(real.count if real else 0),
                 "frames_per_clip": float(self.clip_frames), "clip_seed": float(self.seed),
                 "short_videos": float(short)}
        if len(generated) < 2 or real is None or real.count < 2:
            return Measurement(self.name, extra=extra,
                               na_reason=f"FVD needs at least 2 generated and 2 real clips of {self.clip_frames} "
                                         f"frames ({short} video(s) shorter than that)")
        fake = FrechetStats.from_features(generated, ddof=0)
        value = frechet_distance(fake.mu, fake.sigma, real.mu, real.sigma)
        resampled = ResampledFrechet(generated, np.arange(len(generated)), real, ddof=0)
        return Measurement(self.name, videos=tuple(sorted(self.generated)[: self.max_clips]), extra=extra,
                           distance=lambda counts: value if counts is None else resampled(counts))
