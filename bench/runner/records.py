"""What a run records and how it is keyed: run keys, tags' digests, the params record, versions.

``mb.run_key`` hashes everything that changes one task's numbers; ``mb.items`` what was evaluated;
``mb.backends`` each metric's backend; the params record every setting, the method's config and
hashes, the package versions and the git revision.
"""
from __future__ import annotations

import hashlib
import platform
import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench import tracking
from bench.errors import UserError
from bench.runner.items import Item
from bench.runner.loading import MethodPlan
from bench.runner.settings import RunSettings, settings_record

PACKAGES = ("motionbench", "torch", "torchvision", "numpy", "mlflow", "lpips", "pytorch-fid", "face-alignment")
#: version of the per-video record format; records of another version are recomputed
RECORD_FORMAT = 2


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pairs_sha256(pairs: str | None) -> str | None:
    """The SHA-256 of a ``--pairs`` file (None without one; a missing file is one line)."""
    if not pairs:
        return None
    if not Path(pairs).is_file():
        raise UserError(f"pairs file not found: {pairs}")
    return file_sha256(pairs)


def task_run_key(settings: RunSettings, method: MethodPlan, task: str, metrics: list[str],
                 pairs: str | None) -> str:
    """``mb.run_key``: everything that changes the numbers of one task of a run (``pairs``: the pairs file's hash)."""
    animation = task == "animation"
    return tracking.run_key(
        method=settings.method, dataset=settings.dataset, task=task, variant=settings.variant,
        num_refs=settings.num_refs, seed=settings.seed, config_hash=method.config_hash,
        checkpoint=method.checkpoint_sha256, train_dataset=method.train_dataset, metrics=metrics,
        convention=settings.convention, backends=sorted(settings.backends), max_videos=settings.max_videos,
        precision=settings.precision, num_pairs=settings.num_pairs if animation else None,
        pairs=pairs if animation else None, best_of_refs=settings.best_of_refs)


def default_out(settings: RunSettings, keys: dict[str, str]) -> Path:
    """``runs/<dataset>/<method>-<variant>-<hash>``: the same command resumes in the same folder,
    another configuration (checkpoint, config, N, seed, ...) gets its own."""
    digest = tracking.run_key(tasks=keys)[:8]
    return Path("runs") / settings.dataset / f"{settings.method}-{settings.variant}-{digest}"


def items_digest(items: list[Item]) -> str:
    """``mb.items``: what was evaluated (the items' names in order: videos, or source->driving pairs)."""
    return tracking.run_key(items=[item.name for item in items])


def backends_text(backends: dict[str, str]) -> str:
    """``mb.backends``: each computed metric's backend, ``akd=dlib,fid=inception`` (metrics without one left out)."""
    chosen = [f"{name}={backend}" for name, backend in sorted(backends.items()) if backend != "none"]
    return ",".join(chosen) or "none"


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The commit of the motionbench checkout in use (None when not run from a git checkout)."""
    source = Path(__file__).resolve().parents[2]
    if not (source / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def task_params(settings: RunSettings, method: MethodPlan, **facts: Any) -> dict[str, Any]:
    """The params record of one task: every setting, the method's record, the task's resolved ``facts``
    (task, N, items, metrics, device, layout used, backends, intervals, ...), versions and the git revision."""
    return {**settings_record(settings), **method.record(), **facts, "record_format": RECORD_FORMAT,
            "versions": package_versions(), "git_revision": git_revision() or "unknown"}
