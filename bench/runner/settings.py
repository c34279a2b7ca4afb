"""What one ``bench run`` evaluates: the run-settings dataclass, declared once.

Each field of :class:`RunSettings` carries its command-line flag and help in its metadata; the
``bench run`` options, the keys a sweep file may set, the printed equivalent command and the
settings record of ``summary.json`` are all derived from these declarations
(:func:`add_arguments`, :data:`SWEEP_KEYS`, :func:`command_line`, :func:`settings_record`).
"""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from bench.errors import UserError
from bench.files import safe_name
from bench.metrics.aggregation import CONVENTIONS, DEFAULT_CONVENTION
from bench.metrics.bootstrap import METHODS as INTERVAL_METHODS, IntervalSpec
from bench.precision import DEFAULT_PRECISION, PRECISIONS, get_precision
from bench.protocol import TASKS

if TYPE_CHECKING:  # the command line builds settings without importing torch
    import torch

DEFAULT_REFS = 3
DEFAULT_PAIRS = 200
#: ``--memory-format`` names; ``auto`` is resolved per device by :meth:`RunSettings.resolved_memory_format`
MEMORY_FORMATS = ("channels-last", "contiguous", "auto")


def torch_memory_format(name: str) -> torch.memory_format:
    """The torch memory format of a resolved ``--memory-format`` name (not ``auto``)."""
    import torch

    return {"channels-last": torch.channels_last, "contiguous": torch.contiguous_format}[name]


def option(default: Any = None, *, flag: str | None = None, help: str = "", metavar: str | None = None,
           sweep: str | None = "", choices: tuple[str, ...] | None = None, repeat: bool = False,
           comma_list: bool = False, optional_value: bool = False, default_factory: Any = None) -> Any:
    """A settings field with its command-line declaration.

    ``flag``: the option (default ``--<field-name>`` with dashes; a ``--no-...`` flag for a
    field that defaults to True); ``sweep``: its key in sweep files (default the field name,
    None: not settable there); ``repeat``: the flag may be given several times (list field);
    ``comma_list``: a list given as ``a,b,c``; ``optional_value``: a flag that may also carry a value
    (which must then name the run's method).
    """
    metadata = {"flag": flag, "help": help, "metavar": metavar, "sweep": sweep, "choices": choices,
                "repeat": repeat, "comma_list": comma_list, "optional_value": optional_value}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class RunSettings:
    """Options of ``bench run`` (see ``bench run --help``)."""

    method: str = option(dataclasses.MISSING, help="registered method (bench methods list)", sweep=None)
    dataset: str = option(dataclasses.MISSING, help="dataset name (bench datasets list)", sweep=None)
    root: str | None = option(help="dataset root in FOMM layout (ROOT/test/<video>); synthetic is generated")
    checkpoint: str | None = option(help="weights: a motionbench checkpoint, or an official one with --official")
    official: bool = option(False, metavar="METHOD", optional_value=True,
                            help="--checkpoint is an official checkpoint of --method (FOMM, MRAA, TPSMM: the "
                                 "repository's .pth.tar; LivePortrait: its folder of files; bench methods list "
                                 "marks the methods with one); its model_params come from --config or the preset. "
                                 "A value, if given, must name --method (--official fomm)")
    random_init: bool = option(False, help="evaluate a method with learned weights without a checkpoint, i.e. its "
                                           "random initial weights (recorded; tables, figures and the gate leave "
                                           "such runs out unless asked)")
    trusted: bool = option(False, help="allow a full pickle load of the checkpoint (can run code: only for files "
                                       "you trust)")
    config: str | None = option(help="method YAML (its model_params); default configs/methods/<method>/<dataset>.yaml")
    overrides: list[str] = option(flag="--set", metavar="KEY=VALUE", sweep="set", repeat=True, default_factory=list,
                                  help="override a model_params value by its key path, e.g. --set "
                                       "common_params.num_kp=15 (FOMM) or --set num_refs=5 (SADM); an unknown key "
                                       "names the nearest valid ones (repeatable)")
    task: str = option("all", choices=(*TASKS, "all"), help="protocol task(s) to run")
    refs: int | None = option(help=f"reference views N (default {DEFAULT_REFS}, the paper's protocol, whatever the model "
                                   "was trained with; also sets SADM's num_refs)")
    seed: int = option(0, help="seed of reference frames and animation pairs")
    metrics: list[str] | None = option(comma_list=True, help="comma-separated subset, e.g. l1,ssim,psnr "
                                                             "(default: each task's default metrics)")
    backends: list[str] = option(flag="--backend", metavar="METRIC=NAME", sweep="backend", repeat=True,
                                 default_factory=list,
                                 help="backend of a metric, e.g. --backend akd=dlib (repeatable; default: the "
                                      "metric's default for the dataset's domain, see bench metrics list)")
    convention: str = option(DEFAULT_CONVENTION, choices=tuple(CONVENTIONS),
                             help="how frame-wise metrics become dataset values: fomm (every scored frame of "
                                  "every video pooled, as FOMM and pose-evaluation; the published tables) or "
                                  "video-mean (mean of per-video means)")
    strict: bool = option(False, help="missing metric weights are fatal instead of N/A")
    ci_method: str = option("percentile", choices=tuple(INTERVAL_METHODS),
                            help="95%% interval of every mean: a cluster bootstrap over videos, percentile (the "
                                 "default; rliable's) or bca (bias-corrected and accelerated, scipy's default)")
    ci_resamples: int = option(1000, metavar="B", help="bootstrap resamples of frame-wise metrics (0: no intervals)")
    ci_resamples_distribution: int = option(100, metavar="B",
                                            help="bootstrap resamples of FID / KID / FVD, each a recomputation of "
                                                 "the distance (0: no intervals)")
    out: str | None = option(help="output folder (default runs/<dataset>/<method>-<variant>-<hash of the settings>)")
    save_videos: int = option(0, metavar="K", help="write K side-by-side videos (source | driving | generated) of a "
                                                   "seeded choice of items, the same for every method (--seed)")
    variant: str = option("default", help="label of this configuration (ablation / sweep cell)")
    max_videos: int | None = option(metavar="K", help="evaluate only the first K videos / pairs")
    pairs: str | None = option(help="animation pairs CSV (FOMM format distance,source,driving,frame)")
    num_pairs: int = option(DEFAULT_PAIRS, help=f"seeded animation pairs (default {DEFAULT_PAIRS})")
    best_of_refs: bool = option(True, flag="--no-best-of-refs",
                                help="skip the best-of-references runs of one-shot methods")
    batch_size: int = option(16, help="frames per forward pass")
    memory_format: str = option("auto", choices=MEMORY_FORMATS,
                                help="layout of the model's 4-D weights and activations: channels-last (faster "
                                     "convolutions on CPU), contiguous (NCHW) or auto (channels-last on CPU, "
                                     "contiguous elsewhere; the default); frames agree within float rounding")
    precision: str = option(DEFAULT_PRECISION, choices=tuple(PRECISIONS),
                            help="the method's weights and arithmetic: fp32 (as the official code; the default), "
                                 "fp64 (slower; numbers independent of the CPU's kernel path) or bf16 (bfloat16 "
                                 "autocast around the method's forward, evaluation only; see the README's "
                                 "performance section for what it costs); part of the run key")
    device: str | None = option(help="cpu, cuda, cuda:1 (default: CUDA when available)")
    train_dataset: str | None = option(help="dataset the weights were trained on (recorded; read from our "
                                            "checkpoints)")
    weights_dir: str | None = option(help="folder with metric backbone weights (else the standard caches)")
    allow_download: bool = option(False, help="download missing public metric weights into the standard caches")
    track: bool = option(True, flag="--no-track", sweep=None, help="do not log to MLflow")

    @property
    def num_refs(self) -> int:
        """N: ``--refs``, else the paper's 3 (a model trained with another N is evaluated at the protocol's)."""
        return DEFAULT_REFS if self.refs is None else self.refs

    def resolved_memory_format(self, device: torch.device) -> str:
        """The model's layout on ``device`` (a :data:`MEMORY_FORMATS` name): ``auto`` is channels-last on the
        CPU, where oneDNN's convolutions run faster in it (``bench perf eval`` measures both), and contiguous
        (NCHW) elsewhere, where it was not measured."""
        if self.memory_format == "auto":
            return "channels-last" if device.type == "cpu" else "contiguous"
        return self.memory_format

    def tasks(self) -> list[str]:
        if self.task == "all":
            return list(TASKS)
        if self.task not in TASKS:
            raise UserError(f"unknown task '{self.task}'; choose from: {', '.join(TASKS)}, all")
        return [self.task]

    def task_dir(self, task: str) -> Path:
        """``OUT`` for a single task, ``OUT/<task>`` when both run (``out`` must be resolved)."""
        if self.out is None:
            raise ValueError("RunSettings.out is not resolved (the run plan sets it)")
        return Path(self.out) / task if self.task == "all" else Path(self.out)

    def validate(self) -> None:
        for flag, name in (("--method", self.method), ("--dataset", self.dataset), ("--variant", self.variant)):
            safe_name(name, flag)  # each becomes part of the default output path
        self.tasks()
        if self.official and self.checkpoint is None:
            raise UserError("--official needs --checkpoint (the official .pth.tar file)")
        if self.refs is not None and self.refs < 0:
            raise UserError(f"--refs must be >= 0, got {self.refs}")
        if self.max_videos is not None and self.max_videos < 1:
            raise UserError(f"--max-videos must be >= 1 (an empty selection would be an empty run), got {self.max_videos}")
        if self.batch_size < 1 or self.num_pairs < 1 or self.save_videos < 0:
            raise UserError("--batch-size and --num-pairs must be >= 1, --save-videos >= 0")
        if self.memory_format not in MEMORY_FORMATS:
            raise UserError(f"unknown --memory-format '{self.memory_format}'; choose from: {', '.join(MEMORY_FORMATS)}")
        if self.convention not in CONVENTIONS:
            raise UserError(f"unknown --convention '{self.convention}'; choose from: {', '.join(CONVENTIONS)}")
        get_precision(self.precision)
        self.intervals()
        self.backend_choices()

    def intervals(self) -> IntervalSpec:
        """The bootstrap settings of this run's intervals (the draw seeded by ``--seed``)."""
        return interval_spec(self.ci_method, self.ci_resamples, self.ci_resamples_distribution, self.seed)

    def backend_choices(self) -> dict[str, str]:
        """``--backend METRIC=NAME`` options as ``{metric: backend}`` (malformed or repeated ones are errors)."""
        return parse_assignments(self.backends, "--backend", "METRIC=NAME")


def interval_spec(method: str, resamples: int, distribution_resamples: int, seed: int) -> IntervalSpec:
    """95% intervals with the ``--ci-*`` options' method and resample counts, the draw seeded by ``seed``."""
    return IntervalSpec(method, 0.95, resamples, distribution_resamples, seed).validate()


def parse_assignments(items: list[str], flag: str, form: str) -> dict[str, str]:
    """``['a=x', 'b=y']`` -> ``{'a': 'x', 'b': 'y'}``; one-line errors for malformed or repeated keys."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise UserError(f"{flag} expects {form}, got '{item}'")
        if key in out:
            raise UserError(f"{flag} names '{key}' twice")
        out[key] = value
    return out


FIELDS = {f.name: f for f in dataclasses.fields(RunSettings)}
#: keys a sweep file (or one of its variants) may set, mapped to the field they fill
SWEEP_KEYS: dict[str, str] = {(f.metadata["sweep"] or f.name): f.name for f in FIELDS.values()
                              if f.metadata["sweep"] is not None}


def flag_of(name: str) -> str:
    return FIELDS[name].metadata["flag"] or "--" + name.replace("_", "-")


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _scalar_type(annotation: Any) -> type:
    """``int`` for ``int`` / ``int | None``, else ``str``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    return int if args[0] is int else str


def _argument(f: dataclasses.Field, hint: Any, default: Any, help_text: str) -> dict[str, Any]:
    """``add_argument`` keywords of one settings field."""
    meta = f.metadata
    kwargs: dict[str, Any] = {"dest": f.name, "help": help_text}
    if meta["optional_value"]:
        kwargs.update(nargs="?", const=True, default=default, metavar=meta["metavar"])
    elif hint is bool:
        kwargs["action"] = "store_false" if default else "store_true"
    elif meta["repeat"]:
        kwargs.update(action="append", default=[], metavar=meta["metavar"])
    else:
        kwargs.update(type=_comma_list if meta["comma_list"] else _scalar_type(hint), metavar=meta["metavar"],
                      choices=meta["choices"])
        if default is dataclasses.MISSING:
            kwargs["required"] = True
        elif default is not None:
            kwargs["default"] = default
    return kwargs


def add_arguments(parser: argparse.ArgumentParser, names: Iterable[str] | None = None,
                  defaults: Mapping[str, tuple[Any, str]] | None = None) -> None:
    """The ``bench run`` options, one per :class:`RunSettings` field (``names``: only those); another verb that
    runs the same settings derives its options here, ``defaults`` giving some a default and help of its own."""
    hints = typing.get_type_hints(RunSettings)
    defaults = defaults or {}
    for name in names or FIELDS:
        f = FIELDS[name]
        default, help_text = defaults.get(name, (f.default, f.metadata["help"]))
        parser.add_argument(flag_of(name), **_argument(f, hints[name], default, help_text))


def from_namespace(args: argparse.Namespace, **fixed: Any) -> RunSettings:
    """Settings from parsed options (fields without an option keep their default; ``fixed`` ones are set)."""
    values = {name: getattr(args, name) for name in FIELDS if hasattr(args, name)}
    values.update(fixed)
    for name, f in FIELDS.items():
        given = values.get(name)
        if f.metadata["optional_value"] and isinstance(given, str):
            if given != values["method"]:
                raise UserError(f"{flag_of(name)} {given} does not name --method {values['method']}")
            values[name] = True
    return RunSettings(**values)


def from_mapping(values: dict[str, Any], where: str) -> RunSettings:
    """Settings from sweep-file keys (``set``, ``metrics`` as a list or 'a,b'); unknown keys and values
    of the wrong type are named."""
    from bench.config import check_type

    hints = typing.get_type_hints(RunSettings)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        name = SWEEP_KEYS.get(key, key if key in ("method", "dataset") else None)
        if name is None:
            raise UserError(f"{where}: unknown key '{key}' (valid: {', '.join(SWEEP_KEYS)})")
        if FIELDS[name].metadata["comma_list"] and isinstance(value, str):
            value = _comma_list(value)
        try:
            kwargs[name] = check_type(value, hints[name], key)
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
    return RunSettings(**kwargs)


def command_line(settings: RunSettings) -> str:
    """The ``bench run`` command equivalent to ``settings`` (fields left at their default omitted)."""
    parts = ["bench", "run"]
    for f in FIELDS.values():
        value = getattr(settings, f.name)
        default = [] if f.metadata["repeat"] else f.default
        if f.default is not dataclasses.MISSING and value == default or value is None:
            continue
        flag = flag_of(f.name)
        if isinstance(value, bool):
            parts.append(flag)
        elif f.metadata["repeat"]:
            for item in value:
                parts += [flag, str(item)]
        elif f.metadata["comma_list"]:
            parts += [flag, ",".join(value)]
        else:
            parts += [flag, str(value)]
    return shlex.join(parts)


def settings_record(settings: RunSettings) -> dict[str, Any]:
    """Every setting by field name (for ``summary.json`` and the MLflow params)."""
    return dataclasses.asdict(settings)
