"""The training loop shared by every method: Adam + MultiStepLR over seeded, resumable epochs
(and a second pair for a method's discriminator), for the main stage or a method's extra stage.

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
from bench.methods.base import MAIN_STAGE, Method
from bench.precision import PRECISIONS, Precision
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
    """Routes the losses of the stage being trained through ``forward`` so DistributedDataParallel
    synchronises gradients."""

    def __init__(self, method: Method, stage: str, options: Any) -> None:
        super().__init__()
        self.method = method
        self.stage = stage
        self.options = options

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.stage == MAIN_STAGE:
            return self.method.losses(batch)
        return self.method.stage_losses(self.stage, batch, self.options)


def per_process_batch(config: TrainConfig, ctx: DistContext) -> int:
    """The share of the global ``batch_size`` one process takes."""
    if config.batch_size % ctx.world_size:
        raise ConfigError(f"train.batch_size {config.batch_size} is the global batch and must divide among the "
                          f"{ctx.world_size} processes")
    return config.batch_size // ctx.world_size


def sync_batchnorm(module: nn.Module, config: TrainConfig, ctx: DistContext) -> nn.Module:
    """``module`` with BatchNorm statistics synchronised over the processes when ``config.sync_bn``
    (as the official FOMM's ``DataParallelWithCallback``); alone, nothing to synchronise."""
    if not (config.sync_bn and ctx.enabled):
        return module
    if ctx.device.type != "cuda":
        raise ConfigError("train.sync_bn synchronises BatchNorm over CUDA processes only; "
                          "set train.sync_bn=false to train on CPU processes")
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)


class OptimiserPair:
    """Adam and its MultiStepLR over some parameters (the strategy's betas unless given, milestones and gamma)."""

    def __init__(self, params: list[nn.Parameter], lr: float, config: TrainConfig,
                 betas: list[float] | None = None) -> None:
        self.optimizer = torch.optim.Adam(params, lr=lr, betas=tuple(betas or config.betas))
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, config.epoch_milestones, config.gamma)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.optimizer.state_dict(), self.scheduler.state_dict()

    def load(self, optimizer: Mapping[str, Any], scheduler: Mapping[str, Any]) -> None:
        self.optimizer.load_state_dict(optimizer)
        self.scheduler.load_state_dict(scheduler)


class Trainer:
    """Trains ``method`` (weights already loaded) on ``dataset`` (a set_epoch-aware training-pairs
    dataset) with ``config``, the settings of training ``stage``.

    The main stage trains every parameter with :meth:`Method.losses`, the method's
    :meth:`~Method.adversary` by an optimiser of its own; another stage only the networks it
    declares, with :meth:`Method.stage_losses` and ``options``. ``resume`` is a checkpoint dict
    (from :func:`bench.checkpoints.load_checkpoint`) of this stage to continue from;
    ``checkpoint_meta`` are the fields every checkpoint carries (method name, model config, train
    dataset, run id, stage).
    """

    def __init__(self, method: Method, config: TrainConfig, dataset: Dataset, ctx: DistContext, out_dir: Path,
                 checkpoint_meta: Mapping[str, Any], amp: bool = False, monitor: NullMonitor | None = None,
                 callbacks: Sequence[StepCallback] = (), resume: Mapping[str, Any] | None = None,
                 stage: str = MAIN_STAGE, options: Any = None, precision: Precision = PRECISIONS["fp32"]) -> None:
        if amp and ctx.device.type != "cuda":
            raise ConfigError("--amp (mixed precision) needs a CUDA device")
        self.batch_size = per_process_batch(config, ctx)
        self.precision = precision
        self.method = sync_batchnorm(method, config, ctx).to(ctx.device, precision.dtype)
        self.config = config
        self.stage = stage
        self.dataset = dataset
        self.ctx = ctx
        self.out_dir = Path(out_dir)
        self.meta = {**checkpoint_meta, "stage": stage}
        self.amp = amp
        self.monitor = monitor or NullMonitor()
        self.callbacks = list(callbacks)
        self.epoch = 0  # completed epochs
        self.step = 0  # optimiser steps
        self.batch_in_epoch = 0  # steps done in the current (unfinished) epoch
        if stage != MAIN_STAGE:  # only the stage's networks learn
            self.method.requires_grad_(False)
            for name in self.method.stage(stage).networks:
                getattr(self.method, name).requires_grad_(True)
        adversary = self.method.adversary() if stage == MAIN_STAGE else None
        adversarial = {id(p) for p in adversary.parameters()} if adversary is not None else set()
        params = [p for p in self.method.parameters() if p.requires_grad and id(p) not in adversarial]
        if not params:
            raise UserError(f"method '{method.name}' has no trainable parameters")
        self.model_optimiser = OptimiserPair(params, config.lr, config)
        self.adversary_optimiser = None
        if adversary is not None:
            lr = config.lr if config.lr_discriminator is None else config.lr_discriminator
            self.adversary_optimiser = OptimiserPair(list(adversary.parameters()), lr, config,
                                                     config.betas_discriminator)
        self.scaler = torch.amp.GradScaler(ctx.device.type, enabled=amp)
        self.module: nn.Module = LossModule(self.method, stage, options)
        if ctx.enabled:
            self.module = DistributedDataParallel(
                self.module, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
                find_unused_parameters=config.find_unused_parameters)
        self.sampler = EpochSampler(dataset, ctx, seed=config.seed)
        if self.steps_per_epoch < 1:
            raise ConfigError(f"batch_size {config.batch_size} over {ctx.world_size} process(es) is larger than the "
                              f"{self.sampler.per_epoch} samples per epoch and process; lower train.batch_size or "
                              "raise train.num_repeats")
        if resume is not None:
            self._load_training_state(resume)
        self._stop_requested = False
        self._updating = False

    # ------------------------------------------------------------------ state
    @property
    def optimisers(self) -> list[OptimiserPair]:
        return [self.model_optimiser] + ([self.adversary_optimiser] if self.adversary_optimiser else [])

    @property
    def steps_per_epoch(self) -> int:
        return self.sampler.per_epoch // self.batch_size

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.num_epochs

    def _load_training_state(self, data: Mapping[str, Any]) -> None:
        self.model_optimiser.load(data["optimizer"], data["scheduler"])
        if self.adversary_optimiser is not None:
            if not data.get("optimizer_discriminator"):
                raise UserError("the checkpoint holds no discriminator optimiser state to continue from")
            self.adversary_optimiser.load(data["optimizer_discriminator"], data["scheduler_discriminator"])
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
            optimizer, scheduler = self.model_optimiser.state()
            optimizer_d, scheduler_d = self.adversary_optimiser.state() if self.adversary_optimiser else (None, None)
            save_checkpoint(
                path, **fields, model=self.method.state_dict(), optimizer=optimizer, scheduler=scheduler,
                optimizer_discriminator=optimizer_d, scheduler_discriminator=scheduler_d,
                scaler=self.scaler.state_dict() if self.amp else None,
                epoch=self.epoch, step=self.step, batch_in_epoch=self.batch_in_epoch, rng=rng,
                world_size=self.ctx.world_size, train_config=to_dict(self.config))
            if path == self.last_checkpoint:  # the one to resume from
                self.monitor.set_checkpoint(path)
        return path

    @property
    def checkpoint_dir(self) -> Path:
        """``OUT/checkpoints`` (main stage) or ``OUT/checkpoints/<stage>``."""
        return checkpoint_dir(self.out_dir, self.stage)

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoint_dir / "last.pt"

    # ------------------------------------------------------------------ loop
    def _loader(self, epoch: int) -> DataLoader:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch, skip=self.batch_in_epoch * self.batch_size)
        generator = torch.Generator()
        generator.manual_seed(self.config.seed * 1_000_003 + epoch)  # keeps the global RNG untouched
        return DataLoader(self.dataset, batch_size=self.batch_size, sampler=self.sampler, drop_last=True,
                          num_workers=self.config.num_workers, pin_memory=self.ctx.device.type == "cuda",
                          generator=generator, persistent_workers=False)

    def _to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(batch)
        for key in FRAME_KEYS:
            if key in out and torch.is_tensor(out[key]):
                out[key] = self.precision.inputs(out[key], self.ctx.device)
        if not self.method.uses_refs:
            out.pop("refs", None)
        return out

    def _weighted(self, terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
        weights = self.config.loss_weights
        return sum(float(weights.get(name, 1.0)) * value.to(torch.promote_types(value.dtype, torch.float32))
                   for name, value in terms.items())

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """One step of every optimiser after one backward of the weighted sum of the loss terms
        (official ``train.py`` order, see :meth:`Method.adversary`) and the method's
        :meth:`~Method.before_optimizer_step`; returns the terms and the sum (``loss``) as floats."""
        for pair in self.optimisers:
            pair.optimizer.zero_grad(set_to_none=True)
        with self.precision.scope(), torch.autocast(device_type=self.ctx.device.type, dtype=torch.float16,
                                                    enabled=self.amp):
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
        for pair in self.optimisers:
            self.scaler.unscale_(pair.optimizer)  # nothing to do without AMP
        self.method.before_optimizer_step(self.stage)
        for pair in self.optimisers:
            self.scaler.step(pair.optimizer)
        self.scaler.update()
        if self.stage != MAIN_STAGE:
            self.method.mark_stage_trained(self.stage)
        self._updating = False
        return values

    def _log_sample(self, batch: Mapping[str, Any]) -> None:
        rows = min(SAMPLE_ROWS, batch["source"].shape[0])
        source, driving = batch["source"][:rows], batch["driving"][:rows]
        refs = batch["refs"][:rows] if "refs" in batch else None
        self.method.eval()
        try:
            with torch.no_grad(), self.precision.scope():
                generated = self.method.sample(source, driving, refs, self.stage)
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
                    self.method.set_epoch(epoch)
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
                    for pair in self.optimisers:
                        pair.scheduler.step()
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
            metrics["lr"] = self.model_optimiser.optimizer.param_groups[0]["lr"]
            metrics["epoch"] = epoch + self.batch_in_epoch / self.steps_per_epoch
            self.monitor.log_metrics(metrics, self.step)
            meter.reset()
        if self.ctx.is_main and self.step % self.config.sample_every == 0:
            self._log_sample(batch)
        for callback in self.callbacks:
            callback(self, values)
        if any_rank(self._stop_requested, self.ctx):
            raise KeyboardInterrupt


def checkpoint_dir(out_dir: Path, stage: str) -> Path:
    """Where training ``stage`` of the run in ``out_dir`` writes its checkpoints."""
    folder = Path(out_dir) / "checkpoints"
    return folder if stage == MAIN_STAGE else folder / stage


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
