"""Building metrics by name for a domain: applicability, backend choice, weight files.

Domains: 'face', 'body', 'robot', 'cartoon', 'synthetic' (None: unknown). AKD, CSIM and AED
need a face or body model and are not applicable elsewhere; :func:`build_metric` then returns
a :class:`NotApplicable` metric whose result carries the reason, so callers treat every
metric alike.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.errors import UserError
from bench.metrics import METRICS, weights
from bench.metrics.base import Metric, MetricResult

DOMAINS = ("face", "body", "robot", "cartoon", "synthetic")

#: weight files of each backend of each metric (metrics not listed need none)
BACKENDS: dict[str, dict[str, tuple[weights.WeightFile, ...]]] = {
    "lpips": {"alex": (weights.ALEXNET,), "vgg": (weights.VGG16,)},
    "fid": {"inception": (weights.INCEPTION_FID,)},
    "akd": {"fan": (weights.FAN_2D, weights.S3FD), "dlib": (weights.DLIB_LANDMARKS_68,),
            "keypointrcnn": (weights.KEYPOINT_RCNN,)},
    "csim": {"arcface": (weights.ARCFACE, weights.ARCFACE_DETECTOR),
             "dlib": (weights.DLIB_LANDMARKS_5, weights.DLIB_FACE_EMBEDDING), "osnet": (weights.OSNET,)},
}
BACKENDS["aed"] = BACKENDS["csim"]

#: backends per domain, default first
DOMAIN_BACKENDS: dict[str, dict[str, tuple[str, ...]]] = {
    "akd": {"face": ("fan", "dlib"), "body": ("keypointrcnn",)},
    "csim": {"face": ("arcface", "dlib"), "body": ("osnet",)},
    "aed": {"face": ("arcface", "dlib"), "body": ("osnet",)},
}


class NotApplicable(Metric):
    """Stands in for a metric that does not apply; its result is N/A with the reason."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__("cpu")
        self.name = name  # type: ignore[misc]
        self.reason = reason

    def update(self, generated: torch.Tensor, real: torch.Tensor, video: str = "", source: torch.Tensor | None = None) -> None:
        return None

    def compute(self) -> MetricResult:
        return MetricResult(self.name, None, na_reason=self.reason)

    def reset(self) -> None:
        return None

    def state(self) -> dict[str, Any]:
        return {}

    def merge(self, state: dict[str, Any]) -> None:
        return None


def normalize_domain(domain: str | None) -> str | None:
    """'none' / '' / None -> None; otherwise one of :data:`DOMAINS`."""
    if domain is None or domain.lower() in ("", "none"):
        return None
    if domain not in DOMAINS:
        raise UserError(f"unknown domain '{domain}'; choose from: {', '.join(DOMAINS)}, none")
    return domain


def applicable(name: str, domain: str | None) -> tuple[bool, str]:
    """Whether metric ``name`` applies to data of ``domain``, and why not."""
    cls = METRICS.get(name)
    domain = normalize_domain(domain)
    if cls.domains is None or domain in cls.domains:
        return True, ""
    if domain is None:
        return False, f"{name} needs a face or body model; no domain given (use --domain face|body)"
    return False, f"{name} is not defined for {domain} data (it needs a {' or '.join(cls.domains)} model)"


def choose_backend(name: str, domain: str | None, backend: str | None) -> str | None:
    """The backend to use: ``backend`` if valid for the domain, else the domain's default."""
    per_domain = DOMAIN_BACKENDS.get(name)
    if per_domain is None:
        choices = tuple(BACKENDS.get(name, {}))
        if backend is not None and backend not in choices:
            raise UserError(f"metric '{name}' has no backend '{backend}'; choose from: {', '.join(choices) or 'none'}")
        return backend
    allowed = per_domain[normalize_domain(domain)]  # type: ignore[index]
    if backend is None:
        return allowed[0]
    if backend not in allowed:
        raise UserError(f"backend '{backend}' of {name} does not fit {domain} data; choose from: {', '.join(allowed)}")
    return backend


def build_metric(name: str, domain: str | None = None, device: torch.device | str = "cpu",
                 weights_dir: str | Path | None = None, backend: str | None = None, allow_download: bool = False,
                 **options: Any) -> Metric:
    """Metric ``name`` ready for ``update``; N/A stand-in when it does not apply to ``domain``.

    ``options`` go to the metric class (e.g. ``pretrained_backbone=False`` for LPIPS,
    ``pretrained=False`` / ``reference=`` for FID).
    """
    ok, reason = applicable(name, domain)
    if not ok:
        return NotApplicable(name, reason)
    cls = METRICS.get(name)
    chosen = choose_backend(name, domain, backend)
    kwargs: dict[str, Any] = dict(options)
    if name in BACKENDS:
        kwargs.update(weights_dir=weights_dir, allow_download=allow_download)
        if chosen is not None and name != "fid":
            kwargs["backend"] = chosen
    return cls(device=device, **kwargs)


def weights_status(name: str, weights_dir: str | Path | None = None) -> dict[str, list[tuple[str, Path | None]]]:
    """For each backend of ``name``: its weight files and where each was found (None: missing)."""
    return {backend: [(w.filename, weights.find(w, weights_dir)) for w in files]
            for backend, files in BACKENDS.get(name, {}).items()}
