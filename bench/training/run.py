"""``bench train`` as a function: resolve configs, data and checkpoint, then run the trainer.

Works alone or under ``torchrun`` (one call per process); only rank 0 writes checkpoints and
talks to MLflow.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import torch

from bench import tracking
from bench.checkpoints import check_compatible, config_hash, load_checkpoint, short_hash
from bench.datasets import get_dataset, resolve_root
from bench.datasets.sampling import TrainPairs
from bench.datasets.video_io import list_videos
from bench.config import from_dict
from bench.errors import ConfigError, UserError, first_line
from bench.files import ensure_folder, safe_name
from bench.methods import METHODS, build_method
from bench.methods.base import MAIN_STAGE, Method
from bench.methods.presets import load_model_params
from bench.precision import DEFAULT_PRECISION, Precision, get_precision
from bench.training.augment import AugmentedPairs, PairAugmentation
from bench.training.config import (TrainConfig, deep_merge, for_stage, load_train_config, split_overrides, to_dict,
                                   train_config_from)
from bench.distributed import DistContext, barrier, broadcast_object, init_distributed, is_joined, shutdown
from bench.training.monitor import open_monitor, package_versions
from bench.training.trainer import StepCallback, Trainer, TrainingInterrupted, checkpoint_dir
from bench.utils import seed_everything

DEFAULT_OUT = Path("runs") / "train"
#: reference views given to a multi-view method's probe (it uses the first num_refs of them)
MAX_PROBE_REFS = 6


@dataclass
class TrainRequest:
    """What ``bench train`` was asked to do (CLI options, or a call from Python)."""

    method: str | None = None
    dataset: str | None = None
    root: str | Path | None = None
    config: str | Path | None = None  # method config: a preset name or a YAML file
    train_config: str | Path | None = None  # strategy file (default configs/train/<method>/<dataset>.yaml)
    overrides: list[str] = field(default_factory=list)  # train.<key>=v / model.<key>=v
    resume: str | Path | None = None  # checkpoint file, output folder or MLflow run id
    stage: str | None = None  # training stage (default: the checkpoint's, else 'main')
    out: str | Path | None = None
    device: str | None = None
    amp: bool = False
    precision: str | None = None  # fp32 / fp64 (default: the resumed checkpoint's, else fp32)
    epochs: int | None = None
    callbacks: Sequence[StepCallback] = ()
    tags: dict[str, str] = field(default_factory=dict)  # extra MLflow tags, e.g. a sweep cell's mb.run_key


@dataclass
class TrainResult:
    checkpoint: Path
    out_dir: Path
    run_id: str | None
    method: str
    dataset: str
    epoch: int
    step: int
    wall_s: float


def resolve_resume(value: str | Path, stage: str | None = None) -> Path:
    """A checkpoint file, an output folder or an MLflow run id. In a folder: the last checkpoint of
    ``stage`` (``checkpoints/<stage>/last.pt``) when there is one, else of the main stage
    (``checkpoints/last.pt``), from which a later stage starts."""
    path = Path(value)
    if path.is_file():
        return path
    if path.is_dir():
        candidates = [path / "checkpoints" / "last.pt", path / "last.pt"]
        if stage not in (None, MAIN_STAGE):
            candidates.insert(0, checkpoint_dir(path, stage) / "last.pt")
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise UserError(f"--resume {value}: folder has no checkpoints/last.pt")
    runs = _run_by_id(str(value))
    checkpoint = runs.data.tags.get(tracking.TAG_PREFIX + "checkpoint") if runs else None
    if runs is None:
        raise UserError(f"--resume {value}: no such checkpoint file or folder, and no MLflow run with that id "
                        f"in {tracking.tracking_uri()}")
    if not checkpoint:
        raise UserError(f"--resume {value}: MLflow run has no checkpoint tag (it saved none)")
    return Path(checkpoint)


def _run_by_id(run_id: str) -> Any:
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.tracking.MlflowClient(tracking.tracking_uri()).get_run(run_id)
    except MlflowException:
        return None


def _model_config(method: str, dataset: str, request: TrainRequest, model_overrides: dict,
                  resume: dict | None) -> dict[str, Any]:
    """The method config: from the checkpoint when resuming (a different request is an error); an
    evaluation-only method (``MethodSpec.trainable`` false) is refused here, before anything is built."""
    if not METHODS.get(method).trainable:
        raise UserError(f"method '{method}' is evaluation-only (official weights, no training code): "
                        f"evaluate it with bench run --method {method} --official --checkpoint ...")
    if resume is not None:
        if request.config is None and not model_overrides:
            return dict(resume["config"])
        base = load_model_params(method, request.config) if request.config is not None else resume["config"]
        wanted = deep_merge(base, model_overrides)
        check_compatible(resume, expected_method=method, expected_config_hash=config_hash(wanted))
        return wanted
    return deep_merge(load_model_params(method, request.config if request.config is not None else dataset),
                      model_overrides)


def _train_config(method: str, dataset: str, stage: str, continuing: bool, request: TrainRequest,
                  train_overrides: dict, resume: dict | None) -> TrainConfig:
    """The settings of ``stage``: the checkpoint's own when it continues, else the stage's section of
    the strategy (``--train-config``, the checkpoint's, or ``configs/train/<method>/<dataset>.yaml``)."""
    if request.epochs is not None:
        train_overrides = {**train_overrides, "num_epochs": request.epochs}
    saved = resume.get("train_config") if resume is not None and request.train_config is None else None
    if saved and continuing:
        return train_config_from(saved, train_overrides)
    if saved and stage in (saved.get("stages") or {}):
        return for_stage(train_config_from(saved), stage, train_overrides)
    return for_stage(load_train_config(method, dataset, request.train_config), stage, train_overrides)


def _stage_options(method: Method, stage: str, config: TrainConfig) -> Any:
    """Check that ``stage`` is one of the method's; its options, validated."""
    spec = method.stage(stage) if stage != MAIN_STAGE else None
    if spec is None or spec.options is None:
        if config.options:
            raise ConfigError(f"config key 'train.options': training stage '{stage}' of method '{method.name}' "
                              "takes no options")
        return None
    return from_dict(spec.options, config.options, prefix="train.options")


def _run_folder(checkpoint: Path) -> Path:
    """The run folder of a checkpoint file (``OUT/checkpoints[/<stage>]/NAME.pt`` -> ``OUT``)."""
    for folder in checkpoint.resolve().parents[:2]:
        if folder.name == "checkpoints":
            return folder.parent
    return checkpoint.resolve().parent


def _out_dir(request: TrainRequest, method: str, dataset: str, resume_path: Path | None, ctx: DistContext) -> Path:
    if request.out is not None:
        return Path(request.out)
    if resume_path is not None:
        return _run_folder(resume_path)
    stamp = broadcast_object(datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S"), ctx)
    return DEFAULT_OUT / f"{safe_name(method, 'method')}-{safe_name(dataset, 'dataset')}-{stamp}"


def _dataset(dataset: str, root: str | Path | None, config: TrainConfig, uses_refs: bool,
             ctx: DistContext) -> AugmentedPairs:
    spec = get_dataset(dataset)
    if ctx.is_main:  # the synthetic set may be generated on first use: once, by rank 0
        resolve_root(spec, root)
    barrier(ctx)
    videos = list_videos(resolve_root(spec, root), "train", spec)
    base = TrainPairs(videos, size=config.frame_size, num_refs=config.num_refs if uses_refs else 0,
                      id_sampling=config.id_sampling, repeats=config.num_repeats, seed=config.seed)
    return AugmentedPairs(base, PairAugmentation(config.augmentation), seed=config.seed)


@dataclass
class Resumed:
    """What ``--resume`` brings: the checkpoint file and contents, the stage to train and whether it continues."""

    path: Path | None
    data: dict[str, Any] | None
    stage: str
    continuing: bool

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default) if self.data is not None else default


def resumed(request: TrainRequest) -> Resumed:
    """Read ``--resume`` (if any) and check that it can start or continue the requested stage."""
    path = resolve_resume(request.resume, request.stage) if request.resume is not None else None
    data = load_checkpoint(path) if path is not None else None
    saved = data.get("stage", MAIN_STAGE) if data is not None else None
    stage = request.stage or saved or MAIN_STAGE
    continuing = data is not None and saved == stage
    if continuing and not data.get("optimizer"):
        raise UserError(f"checkpoint {path} holds no optimiser state: it can be evaluated, not resumed")
    if data is None and stage != MAIN_STAGE:
        raise UserError(f"training stage '{stage}' continues a trained model: pass --resume with the run "
                        "folder or a checkpoint of the main stage")
    if data is not None and not continuing and saved != MAIN_STAGE:
        raise UserError(f"checkpoint {path} is from training stage '{saved}': it continues that stage; another "
                        "stage starts from a checkpoint of the main stage")
    if data is not None and request.method is not None:
        check_compatible(data, expected_method=request.method, where=path)
    return Resumed(path, data, stage, continuing)


def _names(request: TrainRequest, resume: Resumed) -> tuple[str, str]:
    """The method and dataset trained: asked for, else the resumed checkpoint's."""
    method_name = request.method or resume.get("method")
    dataset = request.dataset or resume.get("train_dataset")
    if not method_name or not dataset:
        raise UserError("bench train needs --method and --dataset (or --resume a checkpoint)")
    if resume.get("train_dataset") not in (None, dataset):
        raise UserError(f"checkpoint {resume.path} was trained on '{resume.get('train_dataset')}', not '{dataset}'")
    return method_name, dataset


def probe(method: Method, size: tuple[int, int], device: torch.device) -> None:
    """Run the freshly built model once on blank frames of the training size: a config it cannot run with
    (``num_channels: 1`` for RGB data, ``block_expansion: 0``) is one line before any data is read."""
    refs = torch.zeros(1, MAX_PROBE_REFS, 3, *size) if method.uses_refs else None
    blank = torch.zeros(1, 3, *size)
    try:
        with torch.no_grad():
            method.to(device).eval().generate(blank.to(device), blank.to(device),
                                              refs.to(device) if refs is not None else None)
    except (RuntimeError, ValueError, IndexError) as exc:
        raise ConfigError(f"method '{method.name}' cannot run on 3-channel frames of {size[1]}x{size[0]} with its "
                          f"config: {first_line(exc)}") from None
    finally:
        method.train()


def _frame_size(config: TrainConfig, dataset: str) -> tuple[int, int]:
    """The (H, W) of the training frames: the strategy's ``frame_size``, else the dataset's."""
    return (config.frame_size, config.frame_size) if config.frame_size else get_dataset(dataset).frame_size


def _record(method_name: str, dataset: str, model_config: dict[str, Any], config: TrainConfig, resume: Resumed,
            request: TrainRequest, ctx: DistContext, precision: Precision, out_dir: Path) -> dict[str, Any]:
    """The checkpoint fields (``meta``), MLflow params, tags and run name of a training run."""
    digest = config_hash(model_config)
    meta = {"method": method_name, "config": model_config, "train_dataset": dataset,
            "run_id": resume.get("run_id") if resume.continuing else None, "precision": precision.name}
    params = {"method": method_name, "dataset": dataset, "stage": resume.stage, "seed": config.seed,
              "config_hash": digest, "world_size": ctx.world_size, "amp": request.amp, "model": model_config,
              "precision": precision.name, "train": to_dict(config), "versions": package_versions()}
    tags = {**tracking.tags(kind="train", method=method_name, dataset=dataset, stage=resume.stage, seed=config.seed,
                            config_hash=short_hash(digest), out_dir=str(out_dir.resolve()), status="running"),
            **request.tags}
    name = f"train {method_name} {dataset}" + ("" if resume.stage == MAIN_STAGE else f" ({resume.stage})")
    return {"meta": meta, "params": params, "tags": tags, "name": name}


def _fit(trainer_args: dict[str, Any], record: dict[str, Any], ctx: DistContext,
         out_dir: Path) -> tuple[Trainer, Path, str | None]:
    """Train under the run's monitor (MLflow on rank 0); returns the trainer, its last checkpoint and the run id."""
    run_id = _existing_run(record["meta"]["run_id"]) if ctx.is_main else None
    with open_monitor(ctx.is_main, out_dir, record["name"], record["tags"], None if run_id else record["params"],
                      run_id=run_id) as monitor:
        trainer = Trainer(**trainer_args, ctx=ctx, out_dir=out_dir, checkpoint_meta=record["meta"], monitor=monitor)
        try:
            checkpoint = trainer.fit()
        except TrainingInterrupted:
            monitor.mark_interrupted()
            raise
        monitor.mark_complete()
    return trainer, checkpoint, monitor.run_id


def run_training(request: TrainRequest) -> TrainResult:
    """Train (or resume) one method on one dataset; returns where the last checkpoint is."""
    started = time.perf_counter()
    joined = is_joined()  # a caller's process group (a sweep under torchrun) stays up after this run
    ctx = init_distributed(request.device)
    try:
        if ctx.is_main:
            tracking.ensure_reachable()  # fail before any compute
        resume = resumed(request)
        method_name, dataset = _names(request, resume)
        train_overrides, model_overrides = split_overrides(request.overrides)
        model_config = _model_config(method_name, dataset, request, model_overrides, resume.data)
        config = _train_config(method_name, dataset, resume.stage, resume.continuing, request, train_overrides,
                               resume.data)
        precision = _precision(request, resume.data, resume.path if resume.continuing else None)
        seed_everything(config.seed)  # identical initial weights on every rank
        with precision.scope():  # initial weights drawn in the training precision (float32's vectorised normal_
            method = build_method(method_name, model_config, resume.data)  # differs between CPU kernel paths)
            probe(method, _frame_size(config, dataset), ctx.device)
        options = _stage_options(method, resume.stage, config)
        seed_everything(config.seed + ctx.rank)  # then one stream per rank (restored when resuming)
        data = _dataset(dataset, request.root, config, method.uses_refs, ctx)
        out_dir = _out_dir(request, method_name, dataset, resume.path, ctx)
        if ctx.is_main:
            ensure_folder(out_dir)  # an unusable --out fails before any compute
        record = _record(method_name, dataset, model_config, config, resume, request, ctx, precision, out_dir)
        trainer_args = dict(method=method, config=config, dataset=data, amp=request.amp, callbacks=request.callbacks,
                            resume=resume.data if resume.continuing else None, stage=resume.stage, options=options,
                            precision=precision)
        trainer, checkpoint, run_id = _fit(trainer_args, record, ctx, out_dir)
        return TrainResult(checkpoint, out_dir, run_id, method_name, dataset, trainer.epoch, trainer.step,
                           time.perf_counter() - started)
    finally:
        if not joined:
            shutdown(ctx)


def _precision(request: TrainRequest, resume: dict | None, continued: Path | None) -> Precision:
    """``--precision``, else the checkpoint's, else fp32; a continued stage keeps its checkpoint's precision
    (another one would not continue it exactly)."""
    saved = (resume or {}).get("precision") or DEFAULT_PRECISION
    name = request.precision or saved
    if continued is not None and name != saved:
        raise UserError(f"checkpoint {continued} was trained in {saved}: it continues in {saved}, not {name}")
    return get_precision(name, training=True)


def _existing_run(run_id: str | None) -> str | None:
    """``run_id`` when the current store has it (a resumed run continues it), else None (a new run)."""
    if not run_id:
        return None
    return run_id if _run_by_id(run_id) is not None else None
