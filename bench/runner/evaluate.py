"""Evaluating one item: generate its frames in batches, check them, feed the metrics.

For every item the metrics are reset, fed the item's frames batch by batch and their
``state()`` is kept, so each item's record holds exactly its own contribution; the run's
numbers are the merge of those records (in name order), which is what makes resumed and
distributed runs equal to uninterrupted single-process ones.

Best-of-references (one-shot methods): the item is generated again with each reference frame
as the source; the candidate with the best selection score (L1 in reconstruction, the item's
own FID in animation, lower is better) is kept as the item's ``best`` record. The metric
targets never change between candidates: the driving frames, and in animation the pair's
source image (so candidates compete against the same reference).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from bench.methods.base import Method
from bench.metrics.base import Metric
from bench.precision import PRECISIONS, Precision
from bench.runner.items import LoadedItem
from bench.protocol import PROTOCOL


@dataclass
class Timer:
    """Seconds spent in the method and in the metrics (CUDA synchronised), and frames made."""

    method: float = 0.0
    metrics: float = 0.0
    frames: int = 0

    def clock(self, device: torch.device) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()


@dataclass
class Outcome:
    """One candidate's result on one item."""

    states: dict[str, Any]
    nonfinite: str | None = None
    frames: list[np.ndarray] = field(default_factory=list)


class ItemEvaluator:
    """Runs ``method`` on items of ``task`` and feeds ``metrics`` (name -> Metric, already built)."""

    def __init__(self, method: Method, metrics: dict[str, Metric], task: str, device: torch.device,
                 batch_size: int = 16, timer: Timer | None = None, precision: Precision = PRECISIONS["fp32"]) -> None:
        self.method = method
        self.precision = precision
        self.metrics = metrics
        self.task = task
        self.device = device
        self.batch_size = batch_size
        self.timer = timer or Timer()

    @staticmethod
    def _target(metric: Metric, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        """What ``metric`` compares against (its declared target): the driving frames or the source image."""
        if metric.target == "source":
            return source.expand(len(driving), -1, -1, -1)
        return driving

    def _generate(self, source: torch.Tensor, driving: torch.Tensor, initial: torch.Tensor,
                  refs: torch.Tensor | None) -> torch.Tensor:
        b = len(driving)
        inputs = self.precision.inputs
        src = inputs(source, self.device).expand(b, -1, -1, -1)
        ref = inputs(refs, self.device).unsqueeze(0).expand(b, -1, -1, -1, -1) if refs is not None else None
        driving = inputs(driving, self.device)
        with self.precision.scope():
            if self.task == "animation":
                return self.method.animate(src, driving, inputs(initial, self.device).expand(b, -1, -1, -1), ref)
            return self.method.generate(src, driving, ref)

    @torch.no_grad()
    def run(self, loaded: LoadedItem, source: torch.Tensor, refs: torch.Tensor | None, keep_frames: bool = False) -> Outcome:
        """Generate the item from ``source`` (and ``refs``) and return the metrics' states for it.

        Stops at the first batch with a NaN or Inf (its frames never reach the metrics).
        """
        name = loaded.item.name
        target_source = loaded.source.to(self.device)
        source, driving = source.to(self.device), loaded.driving.to(self.device)
        refs = refs.to(self.device) if refs is not None else None
        initial = driving[:1]
        for metric in self.metrics.values():
            metric.reset()
        outcome = Outcome({})
        for start in range(0, len(driving), self.batch_size):
            batch = driving[start:start + self.batch_size]
            t0 = self.timer.clock(self.device)
            # NCHW frames for the metrics whatever the model's layout, so that their sums run in one order
            generated = self._generate(source, batch, initial, refs).float().contiguous()
            t1 = self.timer.clock(self.device)
            self.timer.method += t1 - t0
            bad = ~torch.isfinite(generated).flatten(1).all(dim=1)
            if bool(bad.any()):
                outcome.nonfinite = f"non-finite output (NaN/Inf) at frame {start + int(bad.nonzero()[0])}"
                return outcome
            generated = generated.clamp(0.0, 1.0)
            for metric in self.metrics.values():
                metric.update(generated, self._target(metric, target_source, batch), video=name)
            self.timer.metrics += self.timer.clock(self.device) - t1
            self.timer.frames += len(batch)
            if keep_frames:
                outcome.frames.append((generated.permute(0, 2, 3, 1) * 255).round().byte().cpu().numpy())
        outcome.states = {n: copy.deepcopy(m.state()) for n, m in self.metrics.items()}
        return outcome

    def selection_score(self) -> float | None:
        """The item's score under the selection metric (from the metrics' current state)."""
        metric = self.metrics.get(PROTOCOL[self.task].selection)
        if metric is None:
            return None
        value = metric.compute().value()  # one item: every convention gives its mean over scored frames
        return value if value is not None and np.isfinite(value) else None

    def evaluate(self, loaded: LoadedItem, best_of_refs: bool, keep_frames: bool = False) -> tuple[dict[str, Any], Outcome]:
        """The item's record: the metrics' states and, with ``best_of_refs`` (one-shot methods whose
        selection metric is computed), the best reference candidate."""
        use_refs = self.method.uses_refs and len(loaded.refs) > 0
        main = self.run(loaded, loaded.source, loaded.refs if use_refs else None, keep_frames)
        record: dict[str, Any] = {"video": loaded.item.name, "frames": len(loaded.driving),
                                  "ref_indices": list(loaded.ref_indices), "nonfinite": main.nonfinite,
                                  "states": main.states, "best": None}
        if best_of_refs and len(loaded.refs):
            record["best"] = self._best_candidate(loaded)
        return record, main

    def _best_candidate(self, loaded: LoadedItem) -> dict[str, Any] | None:
        best: dict[str, Any] | None = None
        scores: list[float | None] = []
        for j in range(len(loaded.refs)):
            outcome = self.run(loaded, loaded.refs[j:j + 1], None)
            score = self.selection_score() if outcome.nonfinite is None else None
            scores.append(score)
            if score is not None and (best is None or score < best["score"]):
                best = {"candidate": j, "ref_index": loaded.ref_indices[j], "score": score, "states": outcome.states}
        if best is not None:
            best["scores"] = scores
        return best
