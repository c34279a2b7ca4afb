"""``bench sweep``: a grid of runs (methods x datasets x variants) from one YAML file.

Experiment file::

    name: table1                      # names the output folder runs/<name>/...
    methods: [fomm, mraa, sadm]
    datasets: [vox, nemo]
    <run option>: value               # defaults for every cell (bench.runner.settings.SWEEP_KEYS)
    method_options:                   # optional; run options of one method's cells (over the defaults)
      liveportrait: {official: true, checkpoint: checkpoints/liveportrait}
    variants:                         # optional; default one variant 'default'
      - name: full
      - name: no_motion_evolution
        set: [motion_evolution=false] # --set overrides of this variant
        checkpoint: checkpoints/{method}-{dataset}-{variant}.pt

String values may use ``{method}``, ``{dataset}``, ``{variant}``, ``{refs}``, ``{name}`` and ``{seed}``.
The output folder defaults to ``runs/<name>/<dataset>/<method>-<variant>[-n<refs>][-s<seed>]/<task>``. Each
cell runs its tasks one by one; a task whose ``mb.run_key`` already has a run with
``mb.status=complete`` is skipped, so a sweep that stopped half-way continues where it was.

The ``train`` and ``resources`` sections (and a variant's ``train``) belong to :mod:`bench.experiment`,
which trains the checkpoints of the grid's cells: it passes :func:`load_sweep` a ``links`` function
that gives each (method, dataset, variant) its training cells (one per training seed) and the
checkpoint each of them writes.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from bench import tracking
from bench.config import load_yaml
from bench.errors import ConfigError, UserError
from bench.files import safe_name
from bench.metrics.tasks import task_metrics
from bench.runner.settings import SWEEP_KEYS, RunSettings, from_mapping

#: run options a sweep file or variant may set (declared on RunSettings)
CELL_KEYS = tuple(SWEEP_KEYS)
#: sections read by bench.experiment (training cells, SLURM resources, where job records go)
EXPERIMENT_KEYS = ("train", "resources", "jobs_dir")
TOP_KEYS = ("name", "description", "methods", "datasets", "method_options", "variants", *CELL_KEYS, *EXPERIMENT_KEYS)
VARIANT_KEYS = ("name", "train", *CELL_KEYS)


@dataclass(frozen=True)
class Link:
    """Where the cells of one (method, dataset, variant) get their weights: ``train`` is the label of the
    experiment's training cell (None: weights from the run options), ``seed`` its training seed and
    ``options`` the run options it sets (the checkpoint it writes)."""

    seed: int | None = None
    train: str | None = None
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)


#: (method, dataset, the cell's run options (before placeholders are filled), its variant's mapping) -> the
#: cell's links (default: one, weights from the run options)
Linker = Callable[[str, str, Mapping[str, Any], Mapping[str, Any]], list[Link]]


@dataclass
class Job:
    """One task of one cell of the grid (``train``: the training cell whose checkpoint it evaluates)."""

    settings: RunSettings
    task: str
    train_seed: int | None = None
    train: str | None = None

    @property
    def label(self) -> str:
        s = self.settings
        refs = "" if s.refs is None else f" N={s.refs}"
        seed = "" if self.train_seed is None else f" seed={self.train_seed}"
        return f"{s.method}/{s.dataset}/{s.variant}{refs}{seed}/{self.task}"


def _check_keys(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' (valid: {', '.join(allowed)})")


def names_of(value: Any, key: str, where: str) -> list[str]:
    """A name or a non-empty list of names (e.g. ``methods``, ``datasets``)."""
    names = _as_list(value, key, where)
    if not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{where}: '{key}' must be a name or a list of names, got {value!r}")
    return [safe_name(n, f"{where}: '{key}' entry") for n in names]


def _as_list(value: Any, key: str, where: str) -> list:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: '{key}' must be a non-empty list")
    return value


def _fill(value: Any, fields: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        try:
            return value.format(**fields)
        except (KeyError, IndexError) as exc:
            raise ConfigError(f"placeholder {exc} in '{value}' (use {{method}}, {{dataset}}, {{variant}}, {{refs}}, "
                              "{{name}}, {{seed}})") from None
    if isinstance(value, list):
        return [_fill(v, fields) for v in value]
    return value


def _settings(method: str, dataset: str, variant: str, options: Mapping[str, Any], name: str,
              seed: int | None = None) -> RunSettings:
    refs = options.get("refs")
    fields = {"method": method, "dataset": dataset, "variant": variant, "name": name, "refs": "" if refs is None else refs,
              "seed": "" if seed is None else seed}
    values = {k: _fill(v, fields) for k, v in options.items()}
    if "set" in values:
        values["set"] = [str(v) for v in _as_list(values["set"], "set", f"variant {variant}")]
    values.setdefault("out", f"runs/{name}/{dataset}/{method}-{variant}" + ("" if refs is None else f"-n{refs}")
                      + ("" if seed is None else f"-s{seed}"))
    where = f"sweep cell {method}/{dataset}/{variant}"
    try:
        settings = from_mapping({"method": method, "dataset": dataset, "variant": variant, **values}, where)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    settings.validate()
    return settings


def _method_options(data: Mapping[str, Any], methods: list[str], where: str) -> dict[str, dict[str, Any]]:
    """``method_options``: per method of the grid, run options that replace the defaults in its cells (a
    variant's own options still win), e.g. an evaluation-only method's official weights."""
    value = data.get("method_options") or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: 'method_options' must map method names to run options")
    for method, options in value.items():
        if method not in methods:
            raise ConfigError(f"{where}: method_options names '{method}', which is not in methods")
        if not isinstance(options, Mapping):
            raise ConfigError(f"{where}: method_options.{method} must be a mapping of run options")
        _check_keys(options, CELL_KEYS, f"{where}, method_options.{method}")
    return {str(k): dict(v) for k, v in value.items()}


def _variants(data: Mapping[str, Any], where: str) -> list[Mapping[str, Any]]:
    variants = data.get("variants") or [{"name": "default"}]
    if not isinstance(variants, list):
        raise ConfigError(f"{where}: 'variants' must be a list of mappings with a 'name'")
    for variant in variants:
        if not isinstance(variant, Mapping) or "name" not in variant:
            raise ConfigError(f"{where}: each variant needs a 'name'")
        _check_keys(variant, VARIANT_KEYS, f"{where}, variant {variant['name']}")
        safe_name(str(variant["name"]), f"{where}: variant name")
    return variants


def read_experiment(path: str | Path) -> tuple[dict[str, Any], str]:
    """The experiment file's mapping (top-level keys checked) and its name."""
    data = load_yaml(path)
    _check_keys(data, TOP_KEYS, str(path))
    for key in ("methods", "datasets"):
        if key not in data:
            raise ConfigError(f"{path}: missing key '{key}'")
    return data, safe_name(str(data.get("name") or Path(path).stem), f"{path}: 'name'")  # runs/<name>/...


def load_sweep(path: str | Path, links: Linker | None = None) -> list[Job]:
    """The jobs of an experiment file, in grid order (variant, dataset, method, training seed, task)."""
    data, name = read_experiment(path)
    where = str(path)
    defaults = {k: v for k, v in data.items() if k in CELL_KEYS}
    methods = names_of(data["methods"], "methods", where)
    per_method = _method_options(data, methods, where)
    jobs: list[Job] = []
    for variant in _variants(data, where):
        own = {k: v for k, v in variant.items() if k in CELL_KEYS}
        for dataset in names_of(data["datasets"], "datasets", where):
            for method in methods:
                options = {**defaults, **per_method.get(method, {}), **own}
                for link in links(method, dataset, options, variant) if links else [Link()]:
                    base = _settings(method, dataset, str(variant["name"]), {**options, **link.options}, name, link.seed)
                    jobs += _task_jobs(base, link)
    return jobs


def _task_jobs(base: RunSettings, link: Link) -> list[Job]:
    """One job per task of the cell, each with its own folder and the task's share of the metric list."""
    jobs = []
    for task in base.tasks():
        metrics = None if base.metrics is None else task_metrics(task, base.metrics, base.task != "all")
        single = dataclasses.replace(base, task=task, out=str(Path(base.out) / task), metrics=metrics)
        jobs.append(Job(single, task, link.seed, link.train))
    return jobs


def job_status(job: Job) -> tuple[str, str | None]:
    """``('complete', run_key)``, ``('pending', run_key)`` or ``('error: <reason>', None)``."""
    from bench.runner.plan import plan_keys

    try:
        key = plan_keys(job.settings)[job.task]
    except UserError as exc:
        return f"error: {exc}", None
    done = tracking.find_runs({"run_key": key, "status": "complete"})
    return ("complete" if done else "pending"), key

