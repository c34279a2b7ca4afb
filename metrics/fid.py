"""FID (Heusel et al. 2017) with pytorch-fid's InceptionV3 (2048-d pool3 features), in two resize conventions.

Frames go through pytorch-fid's ``InceptionV3`` with the TF-ported FID weights
``pt_inception-2015-12-05-6726825d.pth`` from the torch hub cache (or ``--weights-dir``). How a
frame reaches the network's 299 x 299 input is the metric's backend (recorded by the run's
``--backend fid=NAME``):

- ``inception`` (default, ``legacy_pytorch``): pytorch-fid's own path: float frames in [0, 1]
  resized bilinearly (``align_corners=False``) to 299 inside ``InceptionV3``, scaled by ``2x - 1``;
  the FID of FOMM, MRAA, TPSMM and the published tables reproduced here.
- ``inception-clean`` (``clean``): clean-fid's ``clean`` mode (GaParmar/clean-fid ``resize.py``,
  ``features.py``, ``utils.py``): frames quantised to uint8 as an image file stores them, each channel
  resized to 299 as a float32 PIL image with PIL's bicubic filter (``make_resizer("PIL", False,
  "bicubic", (299, 299))``: no quantisation after), clipped to [0, 255] and normalised by
  ``(x - 128) / 128``, as clean-fid feeds its Inception. clean-fid runs the StyleGAN2-ADA TorchScript
  export of the same TF Inception graph; here pytorch-fid's port of those weights runs.

The Frechet distance is computed here from the eigenvalues of ``sqrt(S1) S2 sqrt(S1)``
(symmetric, so no complex square roots). FID is a distribution distance over all frames pooled,
not a mean of per-video values: per_video is empty. In animation the real set is each distinct
source image once; a real set of one image (one pair, e.g. the per-item score that picks the best
reference view) is a point mass with zero covariance. Real statistics can be given up front (e.g.
from :class:`RealStatsCache`) so the real frames need not pass through Inception again.

FID and KID (:mod:`bench.metrics.kid`) of one backend on one device share one feature extractor
(:func:`inception_features`): the network is loaded once and a batch passed to both metrics goes
through Inception once.
"""
from __future__ import annotations

import copy
import hashlib
import json
import weakref
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import numpy as np
import torch
from PIL import Image

from bench.files import atomic_write
from bench import weights
from bench.metrics.aggregation import Measurement
from bench.metrics.base import Backend, Metric, MetricInfo, TaskUse
from bench.metrics.frechet import FrechetStats, ResampledFrechet, frechet_distance
from bench.metrics.frame_average import check_pair, to_uint8_images

FEATURE_DIM = 2048
INCEPTION_SIZE = 299
#: how frames reach Inception's 299 x 299 input, by convention name (clean-fid's mode names)
RESIZE_CONVENTIONS = {
    "legacy_pytorch": "pytorch-fid: float frames in [0, 1] resized bilinearly (align_corners=False) to 299 inside "
                      "InceptionV3, scaled to [-1, 1] by 2x - 1",
    "clean": "clean-fid mode 'clean': frames quantised to uint8, each channel resized to 299 by PIL bicubic as float32 "
             "(make_resizer('PIL', False, 'bicubic', (299, 299))), clipped to [0, 255], normalised by (x - 128) / 128",
}
#: FID / KID backend -> its resize convention
BACKEND_RESIZE = {"inception": "legacy_pytorch", "inception-clean": "clean"}
INCEPTION_BACKENDS = (
    Backend("inception", weights=(weights.INCEPTION_FID,),
            reference="pytorch-fid InceptionV3 (TF-ported FID weights), 2048-d pool3; frames resized as pytorch-fid "
                      "does (legacy_pytorch: bilinear on float frames inside the network)"),
    Backend("inception-clean", weights=(weights.INCEPTION_FID,),
            reference="the same network and features; frames resized as clean-fid's 'clean' mode (uint8 frames, PIL "
                      "bicubic per channel in float32 to 299, (x - 128) / 128)"),
)


def _fid_inception_architecture() -> torch.nn.Module:
    """torchvision's InceptionV3 with pytorch-fid's FID-specific blocks, randomly initialised."""
    from pytorch_fid import inception as fid_inception

    net = fid_inception._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = fid_inception.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = fid_inception.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = fid_inception.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = fid_inception.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = fid_inception.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = fid_inception.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = fid_inception.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = fid_inception.FIDInceptionE_1(1280)
    net.Mixed_7c = fid_inception.FIDInceptionE_2(2048)
    return net


#: pretrained networks already loaded, by checkpoint file (path, size, mtime): loaded once per process
_LOADED: weakref.WeakValueDictionary[tuple[str, int, int], torch.nn.Module] = weakref.WeakValueDictionary()


def build_inception(pretrained: bool = True, weights_dir: str | Path | None = None,
                    allow_download: bool = False) -> torch.nn.Module:
    """pytorch-fid's ``InceptionV3`` returning the 2048-d pool3 block, weights from the resolved file.

    A pretrained network is loaded once per checkpoint file and process (later calls return the
    same instance while it is in use); a random one (``pretrained=False``) is new at every call.
    """
    from pytorch_fid import inception as fid_inception

    checkpoint = weights.resolve(weights.INCEPTION_FID, weights_dir, allow_download) if pretrained else None
    key = None
    if checkpoint is not None:
        stat = Path(checkpoint).stat()
        key = (str(Path(checkpoint).resolve()), stat.st_size, stat.st_mtime_ns)
        loaded = _LOADED.get(key)
        if loaded is not None:
            return loaded
    net = _fid_inception_architecture()
    if checkpoint is not None:
        net.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    else:  # He-initialised convolutions, so random features still depend on the input
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    # InceptionV3 builds its blocks from fid_inception_v3(); hand it the network built above
    with mock.patch.object(fid_inception, "fid_inception_v3", lambda: net):
        model = fid_inception.InceptionV3([fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]]).eval()
    if key is not None:
        _LOADED[key] = model
    return model


def clean_resize(images: np.ndarray, size: int = INCEPTION_SIZE) -> np.ndarray:
    """``B x H x W x 3`` uint8 images -> ``B x size x size x 3`` float32 in [0, 255], as clean-fid's ``clean``
    mode resizes them (``cleanfid.resize.make_resizer("PIL", False, "bicubic", (299, 299))``): each channel
    becomes a float32 PIL image (mode ``F``), is resized with PIL's bicubic filter and clipped to [0, 255];
    the result is not quantised again."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected B x H x W x 3 uint8 images, got {images.dtype} {images.shape}")
    out = np.empty((len(images), size, size, 3), dtype=np.float32)
    for i, image in enumerate(images):
        for channel in range(3):
            plane = Image.fromarray(np.ascontiguousarray(image[:, :, channel], dtype=np.float32))  # mode 'F'
            resized = plane.resize((size, size), resample=Image.Resampling.BICUBIC)
            out[i, :, :, channel] = np.asarray(resized).clip(0, 255)
    return out


def _tensor_version(tensor: torch.Tensor) -> int | None:
    """The in-place modification counter of ``tensor`` (None where it has none, e.g. inference tensors)."""
    try:
        return int(tensor._version)
    except (RuntimeError, AttributeError):
        return None


class InceptionFeatures(torch.nn.Module):
    """``B x 3 x H x W`` in [0, 1] -> ``B x 2048`` pool3 features, frames resized by ``resize``
    (a key of :data:`RESIZE_CONVENTIONS`).

    The features of the last few batches are kept: a tensor passed again unchanged (the runner
    hands FID and KID the same generated and target batches) is not run through Inception twice.
    """

    #: batches remembered (a generated and a target batch per runner step)
    remembered = 4

    def __init__(self, inception: torch.nn.Module, resize: str = "legacy_pytorch") -> None:
        super().__init__()
        if resize not in RESIZE_CONVENTIONS:
            raise ValueError(f"unknown resize convention {resize!r}; choose from: {', '.join(RESIZE_CONVENTIONS)}")
        self.inception = inception
        self.resize = resize
        self._recent: list[tuple[torch.Tensor, int, torch.Tensor]] = []

    def _features(self, frames: torch.Tensor) -> torch.Tensor:
        if self.resize == "legacy_pytorch":
            return self.inception(frames)[0].flatten(1)
        resized = torch.from_numpy(clean_resize(to_uint8_images(frames))).permute(0, 3, 1, 2).to(frames.device)
        # pytorch-fid's InceptionV3 resizes 299 -> 299 (the identity) and maps y to 2y - 1; with y = x / 256
        # that is (x - 128) / 128, clean-fid's normalisation, exactly (both scalings are powers of two)
        return self.inception(resized / 256.0)[0].flatten(1)

    @torch.no_grad()
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        version = _tensor_version(frames)
        for seen, seen_version, out in self._recent:  # kept tensors stay alive, so identity is safe
            if version is not None and seen is frames and seen_version == version:
                return out
        out = self._features(frames)
        if version is not None:
            self._recent = [*self._recent[-(self.remembered - 1):], (frames, version, out)]
        return out


#: shared extractors by (network, resize convention, device)
_EXTRACTORS: weakref.WeakValueDictionary[tuple[int, str, str], InceptionFeatures] = weakref.WeakValueDictionary()


def _on_device(module: torch.nn.Module, device: torch.device) -> bool:
    param = next(module.parameters(), None)
    if param is None:
        return True
    return param.device.type == device.type and (device.index is None or param.device.index == device.index)


def inception_features(backend: str = "inception", pretrained: bool = True, weights_dir: str | Path | None = None,
                       allow_download: bool = False, device: torch.device | str = "cpu") -> InceptionFeatures:
    """The feature extractor of FID / KID ``backend`` on ``device``, shared by every metric that asks for the
    same network, convention and device (the network itself is shared across conventions on one device)."""
    if backend not in BACKEND_RESIZE:
        raise ValueError(f"unknown Inception backend {backend!r}; choose from: {', '.join(BACKEND_RESIZE)}")
    resize, device = BACKEND_RESIZE[backend], torch.device(device)
    net = build_inception(pretrained, weights_dir, allow_download)
    key = (id(net), resize, str(device))
    found = _EXTRACTORS.get(key)
    if found is not None and getattr(found, "_source", None) is net:
        return found
    shared = any(getattr(e, "_source", None) is net for e in list(_EXTRACTORS.values()))
    extractor = InceptionFeatures(copy.deepcopy(net) if shared and not _on_device(net, device) else net, resize)
    extractor = extractor.to(device).eval()
    object.__setattr__(extractor, "_source", net)  # not a submodule: kept out of state_dict and .to()
    _EXTRACTORS[key] = extractor
    return extractor


class InceptionDistribution(Metric):
    """Inception features of every generated frame and of the real set, per video (shared by FID and KID).

    ``target='driving'``: the real set is every driving frame; ``target='source'``: each distinct
    source image once. ``reference`` (the cached real-set summary) makes real frames unnecessary;
    ``features`` replaces the Inception extractor (any ``B x 3 x H x W -> B x D`` module), else the
    ``backend``'s shared extractor is used.

    Real-set caching (read by ``bench.runner.real_stats``): ``cache_name`` names the cache,
    :meth:`cache_convention` says what else changes the cached numbers, :meth:`real_reference` is
    what is cached and ``reference`` takes it back.
    """

    cache_name: ClassVar[str]

    def __init__(self, device: torch.device | str = "cpu", target: str = "driving",
                 pretrained: bool = True, weights_dir: str | Path | None = None, allow_download: bool = False,
                 reference: Any = None, features: torch.nn.Module | None = None, backend: str = "inception") -> None:
        super().__init__(device, target)
        if backend not in BACKEND_RESIZE:
            raise ValueError(f"unknown {self.name} backend {backend!r}; choose from: {', '.join(BACKEND_RESIZE)}")
        self.backend = backend
        if features is None:
            features = inception_features(backend, pretrained, weights_dir, allow_download, self.device)
        self.features = features.to(self.device).eval()
        self.reference = reference
        self.add_state("generated", "cat")
        self.add_state("real", "cat")

    @torch.no_grad()
    def _extract(self, frames: torch.Tensor) -> np.ndarray:
        return self.features(frames.to(self.device, torch.float32)).flatten(1).cpu().numpy().astype(np.float32)

    def update(self, generated: torch.Tensor, target: torch.Tensor | None, video: str = "") -> None:
        check_pair(generated, target)
        self.accumulate("generated", video, self._extract(generated))
        if self.reference is not None:
            return
        if target is None:
            raise ValueError(f"{self.info.label} needs real frames when no reference statistics are given")
        if self.target == "source":  # the real set holds each source image once, not once per frame
            if video not in self.real:
                self.accumulate("real", video, self._extract(target[:1]))
        else:
            self.accumulate("real", video, self._extract(target))

    @staticmethod
    def _stack(per_video: dict[str, list[np.ndarray]]) -> np.ndarray:
        chunks = [chunk for video in sorted(per_video) for chunk in per_video[video]]
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)

    def generated_owners(self) -> tuple[tuple[str, ...], np.ndarray]:
        """The videos in name order and, for each row of :meth:`_stack`'s generated rows, its video's index (what
        a bootstrap resample of the videos weights)."""
        videos = tuple(sorted(self.generated))
        sizes = [sum(len(chunk) for chunk in self.generated[v]) for v in videos]
        return videos, np.repeat(np.arange(len(videos)), sizes)

    def real_features(self) -> np.ndarray:
        """The real feature rows; with the source image as target, each distinct source once (pairs that
        share a source video share its row)."""
        rows = self._stack(self.real)
        if self.target != "source" or len(rows) == 0:
            return rows
        _, first = np.unique(rows, axis=0, return_index=True)
        return rows[np.sort(first)]

    def cache_convention(self) -> str:
        """What, besides the videos and the network weights, the cached real summary depends on."""
        return f"every frame; backend {self.backend}: {RESIZE_CONVENTIONS[BACKEND_RESIZE[self.backend]]}"

    def real_reference(self) -> Any:
        raise NotImplementedError


class FID(InceptionDistribution):
    """Frechet Inception Distance between generated and real frames, all videos pooled (lower is better).

    ``reference`` (:class:`FrechetStats`) fixes the real statistics (real frames passed to ``update``
    are then ignored); ``features`` replaces the Inception extractor (any ``B x 3 x H x W -> B x D``
    module); ``backend`` picks the resize convention (``inception``: pytorch-fid's, ``inception-clean``:
    clean-fid's).
    """

    info = MetricInfo(
        "fid", "FID", higher_is_better=False, decimals=2, distribution=True,
        tasks={"reconstruction": TaskUse("driving"), "animation": TaskUse("source")},
        backends=INCEPTION_BACKENDS,
        reference="pytorch-fid (mseitzer/pytorch-fid): pool3 features of frames resized bilinearly to 299, "
                  "Frechet distance of the two Gaussians; one value over all generated frames pooled against the "
                  "driving frames (reconstruction) or the distinct source images, each once (animation); backend "
                  "inception-clean resizes as clean-fid's 'clean' mode (GaParmar/clean-fid)")
    cache_name = "fid"

    def real_stats(self) -> FrechetStats:
        """Statistics of the real frames seen so far (to store in a :class:`RealStatsCache`)."""
        return self.reference or FrechetStats.from_features(self.real_features())

    def real_reference(self) -> FrechetStats:
        return self.real_stats()

    def compute(self) -> Measurement:
        """The distance of all generated frames to the real set; a bootstrap resample of the videos reweights the
        generated frames against the same real statistics (the real set is the fixed reference)."""
        generated = self._stack(self.generated)
        real_count = self.reference.count if self.reference else len(self.real_features())
        extra = {"generated_frames": float(len(generated)), "real_frames": float(real_count)}
        needed = 1 if self.target == "source" else 2
        if len(generated) < 2 or real_count < needed:
            return Measurement(self.name, na_reason=f"FID needs at least 2 generated and {needed} real "
                                                    f"frame{'s' if needed > 1 else ''}", extra=extra)
        fake, real = FrechetStats.from_features(generated), self.real_stats()
        value = frechet_distance(fake.mu, fake.sigma, real.mu, real.sigma)
        videos, owner = self.generated_owners()
        resampled = ResampledFrechet(generated, owner, real, ddof=1)
        return Measurement(self.name, videos=videos, extra=extra,
                           distance=lambda counts: value if counts is None else resampled(counts))


class RealStatsCache:
    """Real-set summaries on disk, one ``.npz`` per (dataset, split, resolution, frame selection and convention):
    Frechet statistics (:class:`FrechetStats`: FID, FVD) or feature rows (an array: KID).

    ``prefix`` names the metric in the file names (``<prefix>-real-<dataset>_<split>-<hash>.npz``).
    """

    def __init__(self, directory: str | Path, prefix: str = "fid") -> None:
        self.directory = Path(directory)
        self.prefix = prefix

    def path(self, dataset: str, split: str, resolution: int | tuple[int, int], frames: str) -> Path:
        key = json.dumps([dataset, split, resolution, frames])
        digest = hashlib.sha1(key.encode()).hexdigest()[:12]
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{dataset}_{split}")
        return self.directory / f"{self.prefix}-real-{safe}-{digest}.npz"

    def load(self, dataset: str, split: str, resolution: int | tuple[int, int],
             frames: str) -> FrechetStats | np.ndarray | None:
        path = self.path(dataset, split, resolution, frames)
        if not path.is_file():
            return None
        with np.load(path) as data:
            if "features" in data:
                return np.array(data["features"])
            return FrechetStats(data["mu"], data["sigma"], int(data["count"]))

    def save(self, stats: FrechetStats | np.ndarray, dataset: str, split: str, resolution: int | tuple[int, int],
             frames: str) -> Path:
        arrays = (dict(mu=stats.mu, sigma=stats.sigma, count=stats.count) if isinstance(stats, FrechetStats)
                  else dict(features=np.asarray(stats)))
        return atomic_write(self.path(dataset, split, resolution, frames), lambda tmp: np.savez(tmp, **arrays))
