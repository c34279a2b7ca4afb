"""Building metrics by name for a domain and target: applicability, backend choice, weight files.

Domains: 'face', 'body', 'robot', 'cartoon', 'synthetic' (None: unknown). Everything here reads
the metric's declared facts (``info``): where a metric does not apply to a domain,
:func:`build_metric` returns a :class:`NotApplicable` stand-in whose result carries the reason,
so callers treat every metric alike.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.errors import UserError
from bench import weights
from bench.metrics.registry import METRICS
from bench.metrics.aggregation import Measurement
from bench.metrics.base import Metric, MetricInfo

DOMAINS = ("face", "body", "robot", "cartoon", "synthetic")


def metric_info(name: str) -> MetricInfo:
    """The declared facts of registered metric ``name`` (one-line error when unknown)."""
    return METRICS.get(name).info


class NotApplicable(Metric):
    """Stands in for a metric that does not apply; its result is N/A with the reason."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__("cpu")
        self.info = metric_info(name)  # type: ignore[misc]
        self.reason = reason

    def update(self, generated: torch.Tensor, target: torch.Tensor | None, video: str = "") -> None:
        return None

    def compute(self) -> Measurement:
        return Measurement(self.name, na_reason=self.reason)


def normalize_domain(domain: str | None) -> str | None:
    """'none' / '' / None -> None; otherwise one of :data:`DOMAINS`."""
    if domain is None or domain.lower() in ("", "none"):
        return None
    if domain not in DOMAINS:
        raise UserError(f"unknown domain '{domain}'; choose from: {', '.join(DOMAINS)}, none")
    return domain


def applicable(name: str, domain: str | None) -> tuple[bool, str]:
    """Whether metric ``name`` applies to data of ``domain``, and why not."""
    info = metric_info(name)
    domain = normalize_domain(domain)
    if info.applies_to(domain):
        return True, ""
    if domain is None:
        return False, (f"{name} needs a {' or '.join(info.domains or ())} model; no domain given "
                       f"(use --domain {'|'.join(info.domains or ())})")
    return False, f"{name} is not defined for {domain} data (it needs a {' or '.join(info.domains or ())} model)"


def check_backends(backends: dict[str, str], domain: str | None = None) -> None:
    """Every ``--backend METRIC=NAME`` names a registered metric and one of its backends, before any compute (a
    misspelt backend of a metric that turns out N/A on this data would otherwise pass unnoticed)."""
    for name, backend in backends.items():
        info = metric_info(name)
        names = [b.name for b in info.backends]
        if backend not in names:
            choices = ", ".join(names) if names else "none: it has no backends"
            raise UserError(f"--backend {name}={backend}: metric '{name}' has no backend '{backend}' "
                            f"(choose from: {choices})")


def choose_backend(name: str, domain: str | None, backend: str | None) -> str | None:
    """The backend to use: ``backend`` if it serves the domain, else the domain's default (None: no backends)."""
    info = metric_info(name)
    domain = normalize_domain(domain)
    if not info.backends:
        if backend is not None:
            raise UserError(f"metric '{name}' has no backend '{backend}'; it has no backends")
        return None
    if backend is None:
        chosen = info.default_backend(domain)
        return chosen.name if chosen else None
    serving = [b.name for b in info.backends if b.serves(domain)]
    if backend not in serving:
        where = f" for {domain} data" if domain else ""
        raise UserError(f"metric '{name}' has no backend '{backend}'{where}; choose from: {', '.join(serving)}")
    return backend


def build_metric(name: str, domain: str | None = None, device: torch.device | str = "cpu",
                 weights_dir: str | Path | None = None, backend: str | None = None, allow_download: bool = False,
                 target: str = "driving", **options: Any) -> Metric:
    """Metric ``name`` ready for ``update``; N/A stand-in when it does not apply to ``domain``.

    ``options`` go to the metric class (e.g. ``pretrained_backbone=False`` for LPIPS,
    ``pretrained=False`` / ``reference=`` for FID). A metric with weight files receives
    ``weights_dir`` / ``allow_download``; one with several backends also the chosen ``backend``.
    """
    ok, reason = applicable(name, domain)
    if not ok:
        return NotApplicable(name, reason)
    info = metric_info(name)
    chosen = choose_backend(name, domain, backend)
    kwargs: dict[str, Any] = dict(options)
    if any(b.weights for b in info.backends):
        kwargs.update(weights_dir=weights_dir, allow_download=allow_download)
    if len(info.backends) > 1 and chosen is not None:
        kwargs["backend"] = chosen
    return METRICS.get(name)(device=device, target=target, **kwargs)


def weights_status(name: str, weights_dir: str | Path | None = None
                   ) -> dict[str, list[tuple[str, Path | None, Path | None]]]:
    """For each backend of ``name``: its weight files, where each was found (None: missing) and the folder it
    belongs in (its standard cache; None when that cache's package is not installed)."""
    return {b.name: [(w.filename, weights.find(w, weights_dir), weights.cache_dir(w)) for w in b.weights]
            for b in metric_info(name).backends if b.weights}
