"""The metric plugin interface: facts declared once (:class:`MetricInfo`), state declared once.

Every metric class carries an ``info`` (name, label, unit, direction, the tasks it belongs to and
what it compares against there, domains, backends and the reference implementation it
reproduces). The runner, settings validation, tables, figures, ``bench metrics list`` and
``bench check`` read these facts from the registry (``bench.metrics.METRICS``); nothing else
restates them.

Metric state is declared once with :meth:`Metric.add_state` (in the spirit of torchmetrics):
each state is a per-video mapping reduced by ``sum`` (numbers) or ``cat`` (arrays), so
``reset``, ``state`` (picklable, for resume and distributed runs) and ``merge`` follow from the
declarations.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Mapping

import numpy as np
import torch

from bench.metrics.aggregation import Measurement
from bench.weights import WeightFile

#: what a metric compares the generated frames against, per task
TARGETS = {
    "driving": "driving frames",
    "source": "source image",
}
Reduce = Literal["sum", "cat"]


@dataclass(frozen=True)
class TaskUse:
    """How a metric takes part in one protocol task.

    ``target``: what the generated frames are compared with (a key of :data:`TARGETS`);
    ``default``: whether the metric is in the task's default set (the paper's columns) or
    only computed when asked for with ``--metrics``.
    """

    target: str = "driving"
    default: bool = True


@dataclass(frozen=True)
class Backend:
    """One way of computing a metric: the domains it serves (None: every domain), its weight
    files and the public implementation it follows."""

    name: str
    domains: tuple[str, ...] | None = None
    weights: tuple[WeightFile, ...] = ()
    reference: str = ""

    def serves(self, domain: str | None) -> bool:
        return self.domains is None or domain in self.domains


@dataclass(frozen=True, eq=False)
class MetricInfo:
    """The facts of one metric, declared once on its class (``Metric.info``).

    ``distribution``: one value over all frames pooled (FID), no per-video values.
    ``decimals``: digits shown in tables. ``reference``: the public implementation and
    convention the metric reproduces (shown by ``bench metrics list`` and the metric card).
    """

    name: str
    label: str
    higher_is_better: bool
    tasks: Mapping[str, TaskUse]
    unit: str = ""
    decimals: int = 3
    domains: tuple[str, ...] | None = None
    backends: tuple[Backend, ...] = ()
    distribution: bool = False
    reference: str = ""

    @property
    def direction(self) -> str:
        return "higher" if self.higher_is_better else "lower"

    def applies_to(self, domain: str | None) -> bool:
        return self.domains is None or domain in self.domains

    def target(self, task: str) -> str:
        """What the metric compares against in ``task`` (``driving`` outside the protocol tasks)."""
        use = self.tasks.get(task)
        return use.target if use is not None else "driving"

    def backend(self, name: str) -> Backend:
        for backend in self.backends:
            if backend.name == name:
                return backend
        raise KeyError(name)

    def default_backend(self, domain: str | None) -> Backend | None:
        """The first declared backend serving ``domain`` (None when the metric has no backends)."""
        return next((b for b in self.backends if b.serves(domain)), None)


class Metric:
    """Accumulates over batches of one or more videos, then computes.

    ``update(generated, target, video=...)`` takes ``B x 3 x H x W`` generated frames in [0, 1]
    (all of ``video``) and what the metric compares them with: the corresponding driving frames
    (``target='driving'``), or the source image ``1 x 3 x H x W`` or its copies
    (``target='source'``). ``convention`` (a key of :data:`CONVENTIONS`) says how frame-wise
    scores become the dataset value. Subclasses declare ``info`` and their states
    (:meth:`add_state`) and implement ``update`` and ``compute``.
    """

    info: ClassVar[MetricInfo]

    def __init__(self, device: torch.device | str = "cpu", target: str = "driving") -> None:
        if target not in TARGETS:
            raise ValueError(f"unknown metric target {target!r}; choose from: {', '.join(TARGETS)}")
        self.device = torch.device(device)
        self.target = target
        self._reductions: dict[str, Reduce] = {}
        self.na_reason: str | None = None

    @property
    def name(self) -> str:
        return self.info.name

    # ------------------------------------------------------------------ state
    def add_state(self, name: str, reduce: Reduce) -> None:
        """Declare a per-video state: ``sum`` of numbers or ``cat`` of arrays (rows)."""
        if reduce not in ("sum", "cat"):
            raise ValueError(f"state {name!r}: reduce must be 'sum' or 'cat', got {reduce!r}")
        self._reductions[name] = reduce
        setattr(self, name, {})

    def accumulate(self, name: str, video: str, value: float | np.ndarray) -> None:
        """Add ``value`` to ``video``'s entry of state ``name`` (by its declared reduction)."""
        table: dict[str, Any] = getattr(self, name)
        if self._reductions[name] == "sum":
            table[video] = table.get(video, 0) + value
        else:
            table.setdefault(video, []).append(np.asarray(value))

    def reset(self) -> None:
        for name in self._reductions:
            setattr(self, name, {})
        self.na_reason = None

    def state(self) -> dict[str, Any]:
        """Picklable accumulated state (NumPy arrays, numbers), keyed by video.

        The runner saves it as each video finishes (resume) and gathers it across processes
        (distributed); :meth:`merge` adds such a state back.
        """
        out: dict[str, Any] = {"na_reason": self.na_reason}
        for name, reduce in self._reductions.items():
            table = getattr(self, name)
            out[name] = dict(table) if reduce == "sum" else {v: np.concatenate(c) for v, c in table.items()}
        return out

    def merge(self, state: Mapping[str, Any]) -> None:
        """Add the state of another instance (another process or an interrupted run)."""
        for name in self._reductions:
            for video, value in state[name].items():
                self.accumulate(name, video, value)
        self.na_reason = self.na_reason or state.get("na_reason")

    # ------------------------------------------------------------------ computing
    def update(self, generated: torch.Tensor, target: torch.Tensor | None, video: str = "") -> None:
        raise NotImplementedError

    def compute(self) -> Measurement:
        raise NotImplementedError
