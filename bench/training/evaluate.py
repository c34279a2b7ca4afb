"""The learning check: reconstruction L1 of a trained checkpoint against the copy-source baseline.

Both numbers come from the evaluation runner (``bench run``'s reconstruction protocol, L1 only,
plain one-shot numbers), so they are the same figures a user gets from ``bench run``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.errors import UserError

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
