"""Dataset metadata: what the paper's benchmarks are and how a video name maps to an identity.

Counts come from the paper (Section 4, "Datasets"); the identity rules follow the FOMM
on-disk naming convention ``<identity>#<start>#<end>...`` with per-dataset variants for
datasets whose names carry no ``#``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Callable

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif", ".png", ".jpg", ".jpeg")


def strip_video_suffix(name: str) -> str:
    """``abc.mp4`` -> ``abc``; folders named like files (FOMM png folders ``x.mp4``) too."""
    suffix = PurePath(name).suffix
    return name[: -len(suffix)] if suffix.lower() in VIDEO_SUFFIXES else name


def _before_hash(name: str) -> str:
    """FOMM convention: the identity is the text before the first ``#``."""
    return strip_video_suffix(name).split("#", 1)[0]


def _before_underscore(name: str) -> str:
    """UvA-NEMO names ``<subject>_<deliberate|spontaneous>_smile_<n>``: the subject id."""
    return _before_hash(name).split("_", 1)[0]


def _whole_stem(name: str) -> str:
    """Each video is its own identity (names carry no identity): the name without extension."""
    return strip_video_suffix(name)


IDENTITY_RULES: dict[str, Callable[[str], str]] = {
    "before-hash": _before_hash,
    "before-underscore": _before_underscore,
    "stem": _whole_stem,
}

IDENTITY_RULE_HELP: dict[str, str] = {
    "before-hash": "text before the first '#' (FOMM <id>#<start>#<end>)",
    "before-underscore": "subject id before the first '_' (UvA-NEMO <subject>_..._smile_<n>)",
    "stem": "each video is its own identity (name without extension)",
}

@dataclass(frozen=True)
class DatasetSpec:
    """Static description of one benchmark in FOMM layout ``<root>/{train,test}/<video>``.

    ``frame_size`` is (height, width); ``test_count``/``train_count`` are the paper's split
    sizes (None when unknown); ``min_frames`` is the shortest usable video (source frame plus
    the paper's three reference frames); ``domain`` decides which metrics apply (each metric
    declares its domains and backends).
    """

    name: str
    title: str
    domain: str
    frame_size: tuple[int, int]
    test_count: int | None
    train_count: int | None
    identity_rule: str
    min_frames: int
    default_root: str

    def __post_init__(self) -> None:
        if self.identity_rule not in IDENTITY_RULES:
            raise ValueError(f"dataset '{self.name}': unknown identity rule '{self.identity_rule}'; "
                             f"choose from: {', '.join(IDENTITY_RULES)}")

    def identity_of(self, video_name: str) -> str:
        """The identity of a video from its file or folder name (any parent path is ignored)."""
        return IDENTITY_RULES[self.identity_rule](PurePath(video_name).name)


def _paper(name: str, title: str, domain: str, test: int, train: int, rule: str) -> DatasetSpec:
    return DatasetSpec(name=name, title=title, domain=domain, frame_size=(256, 256), test_count=test,
                       train_count=train, identity_rule=rule, min_frames=4, default_root=f"data/{name}")


PAPER_DATASETS: tuple[DatasetSpec, ...] = (
    _paper("vox", "VoxCeleb", "face", 507, 18314, "before-hash"),
    _paper("dfdc", "DFDC", "face", 1807, 15039, "before-hash"),
    _paper("nemo", "UvA-Nemo", "face", 124, 1110, "before-underscore"),
    _paper("fashion", "Fashion", "body", 100, 500, "stem"),
    _paper("aist", "AIST Dance DB", "body", 493, 12187, "before-hash"),
    _paper("taichi", "Tai-Chi-HD", "body", 87, 682, "before-hash"),
    _paper("bair", "BAIR", "robot", 128, 42880, "stem"),
    _paper("mgif", "MGif", "cartoon", 100, 900, "stem"),
)
