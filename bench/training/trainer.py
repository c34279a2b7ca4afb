"""The training loop shared by every method: Adam + MultiStepLR over seeded, resumable epochs.

The loop is deterministic given (seed, epoch, index) for the data and the saved RNG states for
the model's own randomness, so a run resumed from a checkpoint ends with the same weights as an
uninterrupted one. Ctrl-C (SIGINT / SIGTERM) finishes the current step, saves a checkpoint and
raises :class:`TrainingInterrupted`.
"""
from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from bench.checkpoints import capture_rng, restore_rng, save_checkpoint
from bench.errors import ConfigError, UserError
from bench.methods.base import Method
from bench.training.config import TrainConfig, to_dict
from bench.distributed import DistContext, any_rank, gather_objects, mean_over_ranks
from bench.training.sampler import EpochSampler
from bench.training.monitor import NullMonitor, sample_grid

StepCallback = Callable[["Trainer", Mapping[str, float]], None]
#: frames shown per sample grid
SAMPLE_ROWS = 4
#: keys of a batch that go to the device
FRAME_KEYS = ("source", "driving", "refs")


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C after saving ``checkpoint`` (None when nothing could be saved)."""

    def __init__(self, checkpoint: Path | None) -> None:
        super().__init__(str(checkpoint) if checkpoint else "")
        self.checkpoint = checkpoint


class NonFiniteLoss(UserError):
    """A loss became NaN or infinite; the last good state was saved."""


class LossModule(nn.Module):
    """Routes ``method.losses`` through ``forward`` so DistributedDataParallel synchronises gradients."""

    def __init__(self, method: Method) -> None:
        super().__init__()
        self.method = method

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.method.losses(batch)


class Trainer:
    """Trains ``method`` on ``dataset`` (a set_epoch-aware training-pairs dataset) with ``config``.

    ``resume`` is a checkpoint dict (from :func:`bench.checkpoints.load_checkpoint`) to continue
    from; ``checkpoint_meta`` are the fields every checkpoint carries (method name, model config,
    train dataset, run id).
    """

    def __init__(self, method: Method, config: TrainConfig, dataset: Dataset, ctx: DistContext, out_dir: Path,
                 checkpoint_meta: Mapping[str, Any], amp: bool = False, monitor: NullMonitor | None = None,
                 callbacks: Sequence[StepCallback] = (), resume: Mapping[str, Any] | None = None) -> None:
        if amp and ctx.device.type != "cuda":
            raise ConfigError("--amp (mixed precision) needs a CUDA device")
        self.method = method.to(ctx.device)
        self.config = config
        self.dataset = dataset
        self.ctx = ctx
        self.out_dir = Path(out_dir)
        self.meta = dict(checkpoint_meta)
        self.amp = amp
        self.monitor = monitor or NullMonitor()
        self.callbacks = list(callbacks)
        self.epoch = 0  # completed epochs
        self.step = 0  # optimiser steps
        self.batch_in_epoch = 0  # steps done in the current (unfinished) epoch
        if resume is not None:
            self.method.load_state_dict(resume["model"])
        params = [p for p in self.method.parameters() if p.requires_grad]
        if not params:
            raise UserError(f"method '{method.name}' has no trainable parameters")
        self.optimizer = torch.optim.Adam(params, lr=config.lr, betas=tuple(config.betas))
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, config.epoch_milestones, config.gamma)
        self.scaler = torch.amp.GradScaler(ctx.device.type, enabled=amp)
        self.module: nn.Module = LossModule(self.method)
        if ctx.enabled:
            self.module = DistributedDataParallel(
                self.module, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
                find_unused_parameters=config.find_unused_parameters)
        self.sampler = EpochSampler(dataset, ctx, seed=config.seed)
        if self.steps_per_epoch < 1:
            raise ConfigError(f"batch_size {config.batch_size} is larger than the {self.sampler.per_epoch} samples "
                              f"per epoch and process; lower train.batch_size or raise train.num_repeats")
        if resume is not None:
            self._load_training_state(resume)
        self._stop_requested = False
        self._updating = False

    # ------------------------------------------------------------------ state
    @property
    def steps_per_epoch(self) -> int:
        return self.sampler.per_epoch // self.config.batch_size

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.num_epochs

    def _load_training_state(self, data: Mapping[str, Any]) -> None:
        self.optimizer.load_state_dict(data["optimizer"])
        self.scheduler.load_state_dict(data["scheduler"])
        if data.get("scaler") and self.amp:
            self.scaler.load_state_dict(data["scaler"])
        self.epoch, self.step = int(data["epoch"]), int(data["step"])
        self.batch_in_epoch = int(data.get("batch_in_epoch") or 0)
        states = list(data.get("rng") or [])
        if len(states) == self.ctx.world_size:
            restore_rng(states[self.ctx.rank])
        else:  # another number of processes: fresh but still seeded streams
            torch.manual_seed(self.config.seed + 7919 * self.step + self.ctx.rank)

    def save(self, path: Path) -> Path:
        """Write a checkpoint of the current state (collective: every rank must call it)."""
        rng = gather_objects(capture_rng(), self.ctx)
        if self.ctx.is_main:
            fields = {**self.meta, "run_id": self.monitor.run_id or self.meta.get("run_id")}
            save_checkpoint(
                path, **fields, model=self.method.state_dict(), optimizer=self.optimizer.state_dict(),
                scheduler=self.scheduler.state_dict(), scaler=self.scaler.state_dict() if self.amp else None,
                epoch=self.epoch, step=self.step, batch_in_epoch=self.batch_in_epoch, rng=rng,
                world_size=self.ctx.world_size, train_config=to_dict(self.config))
            if path == self.last_checkpoint:  # the one to resume from
                self.monitor.set_checkpoint(path)
        return path

    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoint_dir / "last.pt"

    # ------------------------------------------------------------------ loop
    def _loader(self, epoch: int) -> DataLoader:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch, skip=self.batch_in_epoch * self.config.batch_size)
        generator = torch.Generator()
        generator.manual_seed(self.config.seed * 1_000_003 + epoch)  # keeps the global RNG untouched
        return DataLoader(self.dataset, batch_size=self.config.batch_size, sampler=self.sampler, drop_last=True,
                          num_workers=self.config.num_workers, pin_memory=self.ctx.device.type == "cuda",
                          generator=generator, persistent_workers=False)

    def _to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(batch)
        for key in FRAME_KEYS:
            if key in out and torch.is_tensor(out[key]):
                out[key] = out[key].to(self.ctx.device, non_blocking=True)
        if not self.method.uses_refs:
            out.pop("refs", None)
        return out

    def _weighted(self, terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
        weights = self.config.loss_weights
        return sum(float(weights.get(name, 1.0)) * value.float() for name, value in terms.items())

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """One optimiser step; returns the loss terms and their weighted sum (``loss``) as floats."""
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=self.ctx.device.type, dtype=torch.float16, enabled=self.amp):
            terms = self.module(batch)
        if not terms:
            raise UserError(f"method '{self.method.name}' returned no loss terms")
        total = self._weighted(terms)
        values = {name: float(value.detach()) for name, value in terms.items()}
        values["loss"] = float(total.detach())
        if any_rank(not math.isfinite(values["loss"]) and not self.amp, self.ctx):
            bad = ", ".join(f"{k}={v}" for k, v in values.items() if not math.isfinite(v))
            path = self.save(self.last_checkpoint)
            raise NonFiniteLoss(f"loss is not finite at step {self.step + 1} ({bad}); last good state saved to {path}")
        self.scaler.scale(total).backward()
        self._updating = True
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self._updating = False
        return values

    def _log_sample(self, batch: Mapping[str, Any]) -> None:
        rows = min(SAMPLE_ROWS, batch["source"].shape[0])
        source, driving = batch["source"][:rows], batch["driving"][:rows]
        refs = batch["refs"][:rows] if "refs" in batch else None
        self.method.eval()
        try:
            with torch.no_grad():
                generated = self.method.generate(source, driving, refs)
        finally:
            self.method.train()
        self.monitor.log_sample(sample_grid(source, driving, generated), self.step)

    @contextmanager
    def _interrupt_guard(self) -> Iterator[None]:
        """First Ctrl-C / SIGTERM: stop after the current step (and save); a second one aborts at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def request_stop(signum: int, frame: Any) -> None:
            self._stop_requested = True
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        for sig in previous:
            signal.signal(sig, request_stop)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def fit(self) -> Path:
        """Train up to ``config.num_epochs``; returns the last checkpoint's path."""
        self.method.train()
        progress = self.monitor.progress(self.total_steps, self.step)
        meter = LossMeter()
        ran = False
        try:
            with self._interrupt_guard():
                for epoch in range(self.epoch, self.config.num_epochs):
                    ran = True
                    for batch in self._loader(epoch):
                        batch = self._to_device(batch)
                        values = self.train_step(batch)
                        self.step += 1
                        self.batch_in_epoch += 1
                        meter.add(values, frames_in(batch))
                        if progress is not None:
                            progress.update(1)
                            progress.set_postfix({k: f"{v:.4g}" for k, v in values.items()}, refresh=False)
                        self._after_step(batch, values, meter, epoch)
                    self.epoch, self.batch_in_epoch = epoch + 1, 0
                    self.scheduler.step()
                    self.save(self.last_checkpoint)
                    if self.epoch % self.config.checkpoint_every == 0:
                        self.save(self.checkpoint_dir / f"epoch-{self.epoch:04d}.pt")
        except KeyboardInterrupt:
            if self._updating:  # parameters may be half-updated: keep the previous checkpoint
                raise TrainingInterrupted(self.last_checkpoint if self.last_checkpoint.is_file() else None) from None
            raise TrainingInterrupted(self.save(self.last_checkpoint)) from None
        finally:
            if progress is not None:
                progress.close()
        if not ran:  # resumed at the end: nothing to train, still leave a last checkpoint here
            self.save(self.last_checkpoint)
        return self.last_checkpoint

    def _after_step(self, batch: Mapping[str, Any], values: Mapping[str, float], meter: "LossMeter",
                    epoch: int) -> None:
        """Logging, sample grids, callbacks and the (cross-rank) stop check after a step."""
        if self.step % self.config.log_every == 0:
            metrics = mean_over_ranks(meter.means(), self.ctx)
            metrics["throughput_fps"] = meter.frames_per_second() * self.ctx.world_size
            metrics["lr"] = self.optimizer.param_groups[0]["lr"]
            metrics["epoch"] = epoch + self.batch_in_epoch / self.steps_per_epoch
            self.monitor.log_metrics(metrics, self.step)
            meter.reset()
        if self.ctx.is_main and self.step % self.config.sample_every == 0:
            self._log_sample(batch)
        for callback in self.callbacks:
            callback(self, values)
        if any_rank(self._stop_requested, self.ctx):
            raise KeyboardInterrupt


def frames_in(batch: Mapping[str, Any]) -> int:
    """Frames a batch feeds the model: source and driving, plus reference views when present."""
    count = 2 * batch["source"].shape[0]
    refs = batch.get("refs")
    if torch.is_tensor(refs):
        count += refs.shape[0] * refs.shape[1]
    return count


class LossMeter:
    """Means of the loss terms and the frame rate since the last reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, float] = {}
        self.steps = 0
        self.frames = 0
        self.start = time.perf_counter()

    def add(self, values: Mapping[str, float], frames: int) -> None:
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.steps += 1
        self.frames += frames

    def means(self) -> dict[str, float]:
        """``loss`` (weighted total) and ``loss/<term>`` averaged over the steps."""
        return {(k if k == "loss" else f"loss/{k}"): v / max(self.steps, 1) for k, v in self.sums.items()}

    def frames_per_second(self) -> float:
        return self.frames / max(time.perf_counter() - self.start, 1e-9)
