"""What one ``bench run`` evaluates: the settings dataclass and the protocols' metric sets."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import UserError

TASKS = ("reconstruction", "animation")

#: the paper's metrics per task (Section 4); FID is against the driving frames in
#: reconstruction and against the source image in animation
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "reconstruction": ("l1", "lpips", "fid", "ms_ssim", "ssim", "psnr", "akd"),
    "animation": ("fid", "csim", "akd"),
}
#: further metrics a task accepts through ``--metrics``
OPTIONAL_METRICS: dict[str, tuple[str, ...]] = {"reconstruction": (), "animation": ("aed",)}
#: metric that picks the best reference per video for one-shot methods (paper, Table 1)
SELECTION_METRIC = {"reconstruction": "l1", "animation": "fid"}
DEFAULT_REFS = 3
DEFAULT_PAIRS = 200
OFFICIAL = ("fomm", "mraa")


@dataclass
class RunSettings:
    """Options of ``bench run`` (see ``bench run --help``)."""

    method: str
    dataset: str
    root: str | None = None
    checkpoint: str | None = None
    official: str | None = None
    config: str | None = None
    overrides: list[str] = field(default_factory=list)
    task: str = "all"
    refs: int | None = None
    seed: int = 0
    metrics: list[str] | None = None
    strict: bool = False
    out: str | None = None
    save_videos: int = 0
    variant: str = "default"
    max_videos: int | None = None
    pairs: str | None = None
    num_pairs: int = DEFAULT_PAIRS
    best_of_refs: bool = True
    batch_size: int = 16
    device: str | None = None
    train_dataset: str | None = None
    weights_dir: str | None = None
    trusted: bool = False
    track: bool = True

    def tasks(self) -> list[str]:
        if self.task == "all":
            return list(TASKS)
        if self.task not in TASKS:
            raise UserError(f"unknown task '{self.task}'; choose from: {', '.join(TASKS)}, all")
        return [self.task]

    def task_dir(self, task: str) -> Path:
        """``OUT`` for a single task, ``OUT/<task>`` when both run (``out`` must be resolved)."""
        if self.out is None:
            raise ValueError("RunSettings.out is not resolved (bench.runner.engine.default_out)")
        return Path(self.out) / task if self.task == "all" else Path(self.out)

    def task_metrics(self, task: str) -> list[str]:
        """The metrics of ``task``: the paper's set, or the requested ones that belong to it."""
        if self.metrics is None:
            return list(TASK_METRICS[task])
        allowed = TASK_METRICS[task] + OPTIONAL_METRICS[task]
        chosen = [m for m in self.metrics if m in allowed]
        if self.task != "all":
            foreign = [m for m in self.metrics if m not in allowed]
            if foreign:
                raise UserError(f"metric '{foreign[0]}' is not part of the {task} protocol "
                                f"(choose from: {', '.join(allowed)})")
        return chosen

    def validate(self) -> None:
        self.tasks()
        if self.official is not None and self.official not in OFFICIAL:
            raise UserError(f"--official must be one of: {', '.join(OFFICIAL)}")
        if self.official is not None and self.checkpoint is None:
            raise UserError("--official needs --checkpoint (the official .pth.tar file)")
        for name, value in (("--refs", self.refs), ("--max-videos", self.max_videos)):
            if value is not None and value < 0:
                raise UserError(f"{name} must be >= 0, got {value}")
        if self.batch_size < 1 or self.num_pairs < 1 or self.save_videos < 0:
            raise UserError("--batch-size and --num-pairs must be >= 1, --save-videos >= 0")
        if self.metrics is not None:
            every = {m for task in TASKS for m in TASK_METRICS[task] + OPTIONAL_METRICS[task]}
            unknown = [m for m in self.metrics if m not in every]
            if unknown:
                raise UserError(f"unknown metric '{unknown[0]}'; choose from: {', '.join(sorted(every))}")
            if not any(self.task_metrics(t) for t in self.tasks()):
                raise UserError("none of the requested --metrics belongs to the chosen task(s)")
