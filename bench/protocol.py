"""The paper's protocol tasks (Section 4): their names, titles and best-of-references selection metric.

Which metrics a task computes, and against what, is declared by each metric (``info.tasks``) and
read from the registry by :mod:`bench.metrics.tasks`.
"""
from __future__ import annotations

from dataclasses import dataclass



@dataclass(frozen=True)
class Task:
    """One protocol task: its name, title and best-of-references selection metric (lower is better)."""

    name: str
    title: str
    selection: str


PROTOCOL = {
    "reconstruction": Task("reconstruction", "Video Reconstruction", selection="l1"),
    "animation": Task("animation", "Image Animation", selection="fid"),
}
TASKS = tuple(PROTOCOL)
