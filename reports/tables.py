"""The paper's table layouts built from run frames: groups of rows, cells, the marked best values.

Measured rows (tracked runs) and reported rows (``configs/published``) never compete: when a
table holds measured rows, only they are marked and reported rows follow them in each group,
labelled "(reported)"; a table of reported rows alone (``--reported-only``) bolds among them,
as the paper does. A cell shows the mean (with its interval on request), the best-of-references
mean in parentheses when the run has one, ``N/A`` with a reason when the metric does not apply
and ``--`` when no run of that task exists for the row.

Measured cells come from runs of one protocol per group (:mod:`bench.reports.selection`): a run
with other test items, N, seed, convention, precision or backends never enters a row; rows know
the runs their values come from (named in the CSV and in footnotes), and a row whose tasks come
from different ``bench run`` calls says so. Checkpoints trained with several seeds: a row shows one
seed's runs and each cell the spread over the seeds (:mod:`bench.reports.seeds`). Marks follow
:mod:`bench.reports.significance`.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

from bench.errors import UserError
from bench.reports.metric_info import info, label
from bench.reports.published import DIGITS_PREFIX, published_notes
from bench.reports.runs import DEFAULT_VARIANTS, NA_PREFIX
from bench.reports.seeds import COUNT, SUFFIX
from bench.reports.selection import Selection, select_runs
from bench.reports.significance import RULE, PerVideoFetch, mark_rows
from bench.protocol import PROTOCOL

#: the paper's row orders (Table 1 layout); other datasets / methods follow by name
DATASET_ORDER = ("vox", "dfdc", "nemo", "fashion", "aist", "taichi", "bair", "mgif")
METHOD_ORDER = ("copy-source", "fomm", "mraa", "tpsmm", "lia", "fv2v", "liveportrait", "sadm")
#: titles of methods that appear only in published tables (not registered here)
PUBLISHED_ONLY_METHODS = {"fv2v": "face-vid2vid"}
VARIANT_ORDER = ("full", "no_motion_evolution", "no_appearance_assist", "no_multiview_fusion")
VARIANT_LABELS = {"default": "Full", "full": "Full", "no_motion_evolution": "w/o Mot. Evol.",
                  "no_appearance_assist": "w/o App. Assist.", "no_multiview_fusion": "w/o Mult. Fus."}
#: the paper's number of reference views; preferred when a cell has runs with several N
PAPER_NUM_REFS = 3


@dataclass(frozen=True)
class Column:
    """One table column: one metric, or the MS-SSIM / SSIM pair shown as ``a/b``."""

    task: str
    metrics: tuple[str, ...]

    @property
    def header(self) -> str:
        if len(self.metrics) == 1:
            return label(self.metrics[0])
        first, second = (label(m) for m in self.metrics)  # a pair, e.g. MS-SSIM and SSIM -> "MS-/SSIM"
        return f"{first.removesuffix(second)}/{second}"


RECONSTRUCTION_COLUMNS = tuple(Column("reconstruction", m) for m in
                               (("l1",), ("lpips",), ("fid",), ("ms_ssim", "ssim"), ("psnr",), ("akd",)))
ANIMATION_COLUMNS = (Column("animation", ("fid",)), Column("animation", ("csim",)))
FULL_COLUMNS = RECONSTRUCTION_COLUMNS + ANIMATION_COLUMNS


@dataclass
class Cell:
    """Value of one metric in one row; ``na`` is the reason when not applicable. ``digits`` and
    ``best_digits``: the decimals the paper printed (reported rows), None for the registry's."""

    value: float | None = None
    best: float | None = None
    na: str | None = None
    bold: bool = False
    digits: int | None = None
    best_digits: int | None = None
    ci: tuple[float, float] | None = None
    tied: bool = False  # not significantly worse than the best, which is not significantly best
    seed_sd: float | None = None  # standard deviation over the training seeds of the row's checkpoint
    seeds: int | None = None  # how many training seeds ``seed_sd`` is over


@dataclass
class Row:
    """One line of a table; ``runs``: the run record behind each task (measured rows)."""

    label: str
    origin: str
    keys: dict[str, Any]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def mixed(self) -> bool:
        """Whether the row's tasks come from different ``bench run`` calls."""
        calls = {str(run.get("invocation")) for run in self.runs.values()}
        return len(self.runs) > 1 and len(calls) > 1


@dataclass
class Group:
    lines: list[str]
    rows: list[Row]


@dataclass
class Table:
    name: str
    caption: str
    group_header: str
    row_header: str
    columns: tuple[Column, ...]
    groups: list[Group]
    left_out: int = 0  # measured runs of the layout left out for another protocol
    intervals: bool = False  # cells show their intervals (--ci)
    notes: list[str] = field(default_factory=list)  # footnotes on published values

    @property
    def has_measured(self) -> bool:
        return any(r.origin == "measured" for g in self.groups for r in g.rows)

    @property
    def spans(self) -> list[tuple[str, int]]:
        """(task title, number of columns) for the header above the metric columns."""
        out: list[tuple[str, int]] = []
        for column in self.columns:
            title = PROTOCOL[column.task].title
            if out and out[-1][0] == title:
                out[-1] = (title, out[-1][1] + 1)
            else:
                out.append((title, 1))
        return out


@dataclass(frozen=True)
class TableSpec:
    """How one table selects runs, groups them and names its rows."""

    name: str
    caption: str
    group_header: str
    row_header: str
    columns: tuple[Column, ...]
    group_keys: tuple[str, ...]
    row_keys: tuple[str, ...]
    select: Callable[[pd.DataFrame], pd.DataFrame]
    group_lines: Callable[[dict[str, Any]], list[str]]
    row_label: Callable[[dict[str, Any], dict[str, str]], str]
    row_order: Callable[[dict[str, Any]], tuple]
    refs: int | None = PAPER_NUM_REFS  # the N of every measured run (None: N is a row key)


def dataset_title_count(name: str) -> tuple[str, int | None]:
    """Title and test-split size of a registered dataset (the name itself when unknown)."""
    from bench.datasets import DATASETS, get_dataset

    if name not in DATASETS:
        return name, None
    spec = get_dataset(name)
    return spec.title, spec.test_count


def _count_text(name: str, evaluated: Any = None) -> str:
    """``(507)``: the test split size; ``(3 of 8)`` when the runs evaluated fewer videos."""
    count = dataset_title_count(name)[1]
    if not _missing(evaluated) and count and int(evaluated) != count:
        return f"({int(evaluated)} of {count})"
    if count:
        return f"({count})"
    return "" if _missing(evaluated) else f"({int(evaluated)})"


def _dataset_lines(keys: dict[str, Any]) -> list[str]:
    """The paper's Table 1 style: title, then the test count in parentheses below it."""
    count = _count_text(keys["dataset"], keys.get("videos"))
    return [dataset_title_count(keys["dataset"])[0]] + ([count] if count else [])


def _titled(keys: dict[str, Any]) -> str:
    return " ".join(_dataset_lines(keys))


def order_key(sequence: tuple[str, ...], value: Any) -> tuple[int, str]:
    """Sort key: position in ``sequence`` (the paper's order), unknown values after it by name."""
    text = "" if _missing(value) else str(value)
    return (sequence.index(text) if text in sequence else len(sequence), text)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _is_default_variant(frame: pd.DataFrame) -> pd.Series:
    return frame["variant"].isna() | frame["variant"].isin(DEFAULT_VARIANTS)


def _same_train(frame: pd.DataFrame) -> pd.Series:
    return frame["train_dataset"].isna() | (frame["train_dataset"] == frame["dataset"])


def method_title(method: str) -> str:
    """The registered method's label (``MethodSpec.label``), else its published-only title, else its name."""
    from bench.methods import METHODS

    if method in METHODS:
        return METHODS.get(method).title
    return PUBLISHED_ONLY_METHODS.get(method, method)


def _method_label(keys: dict[str, Any], labels: dict[str, str]) -> str:
    return labels.get(keys["method"]) or method_title(keys["method"])


def _select_table1(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[_is_default_variant(frame) & _same_train(frame)]


def _select_generality(frame: pd.DataFrame) -> pd.DataFrame:
    crossed = frame["train_dataset"].notna() & (frame["train_dataset"] != frame["dataset"])
    return frame[crossed & _is_default_variant(frame) & (frame["task"] == "reconstruction")]


def _select_ablation(frame: pd.DataFrame) -> pd.DataFrame:
    """Every variant of a (method, dataset) that has at least one variant besides the default.

    ``default`` and ``full`` both name the full model: they become one ``full`` row.
    """
    frame = frame[_same_train(frame)]
    frame = frame.assign(variant=frame["variant"].where(~_is_default_variant(frame), "full"))
    ablated = frame[~_is_default_variant(frame)][["method", "dataset"]].drop_duplicates()
    return frame.merge(ablated, on=["method", "dataset"])


def _select_nviews(frame: pd.DataFrame) -> pd.DataFrame:
    """Default-variant runs of a (method, dataset) evaluated with at least two values of N."""
    frame = frame[_is_default_variant(frame) & _same_train(frame) & frame["num_refs"].notna()]
    counts = frame.groupby(["method", "dataset"])["num_refs"].nunique()
    several = counts[counts >= 2].reset_index()[["method", "dataset"]]
    return frame.merge(several, on=["method", "dataset"])


SPECS: dict[str, TableSpec] = {
    "table1": TableSpec(
        "table1", "Video reconstruction and image animation per dataset (test videos in parentheses).",
        "Dataset", "Method", FULL_COLUMNS, ("dataset",), ("method",), _select_table1,
        _dataset_lines,
        _method_label, lambda k: order_key(METHOD_ORDER, k["method"])),
    "generality": TableSpec(
        "generality", "Model generality: reconstruction by models trained on one dataset, tested on another.",
        "Dataset", "Method", RECONSTRUCTION_COLUMNS, ("train_dataset", "dataset"), ("method", "num_refs"),
        _select_generality,
        lambda k: [_titled(k), f"trained on {dataset_title_count(k['train_dataset'])[0]}"],
        _method_label,
        lambda k: (order_key(METHOD_ORDER, k["method"]), -1 if _missing(k["num_refs"]) else int(k["num_refs"])),
        refs=None),
    "ablation": TableSpec(
        "ablation", "Ablations: variants of one method on one dataset.",
        "Dataset", "Model", FULL_COLUMNS, ("dataset", "method"), ("variant",), _select_ablation,
        lambda k: [_titled(k), method_title(k["method"])],
        lambda k, labels: labels.get(str(k["variant"])) or VARIANT_LABELS.get(str(k["variant"]), str(k["variant"])),
        lambda k: order_key(VARIANT_ORDER, "full" if k["variant"] in DEFAULT_VARIANTS else k["variant"])),
    "nviews": TableSpec(
        "nviews", "Number of additional source views N.",
        "Dataset", "N", FULL_COLUMNS, ("dataset", "method"), ("num_refs",), _select_nviews,
        lambda k: [_titled(k), method_title(k["method"])],
        lambda k, labels: str(k["num_refs"]),
        lambda k: (int(k["num_refs"]),), refs=None),
}


def _prefer(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One run per ``keys``: the paper's N when there is a choice, then the newest."""
    if frame.empty:
        return frame
    ranked = frame.assign(
        _paper_n=(frame["num_refs"] == PAPER_NUM_REFS).fillna(False).astype(int),
        _time=frame["start_time"] if "start_time" in frame else pd.NaT,
    ).sort_values(["_paper_n", "_time"], ascending=False, kind="stable", na_position="last")
    return ranked.drop_duplicates(subset=keys, keep="first").drop(columns=["_paper_n", "_time"])


def measured_runs(spec: TableSpec, frame: pd.DataFrame) -> Selection:
    """The measured runs behind the cells of table ``spec``: its layout's runs at its N, one protocol per group."""
    if frame.empty:
        return Selection(frame, 0)
    frame = spec.select(frame)
    if spec.refs is not None and len(frame):
        frame = frame[frame["num_refs"] == spec.refs]
    return select_runs(frame, spec.group_keys, spec.row_keys)


def table1_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """The run behind each (dataset, method, task) cell of Table 1."""
    return measured_runs(SPECS["table1"], frame).runs


def _number(run: pd.Series, name: str) -> float | None:
    value = run.get(name)
    return None if _missing(value) else float(value)


def _cell(run: pd.Series | None, metric: str, task: str) -> Cell:
    if run is None:
        return Cell()
    value, best = _number(run, metric), _number(run, f"{metric}_best")
    na = run.get(NA_PREFIX + metric)
    na = None if _missing(na) else str(na)
    if value is None and na is None:
        na = f"{metric} not logged for {task}"
    low, high = _number(run, f"{metric}_ci_low"), _number(run, f"{metric}_ci_high")
    digits, best_digits = (run.get(DIGITS_PREFIX + name) for name in (metric, f"{metric}_best"))
    seeds = _number(run, COUNT)
    return Cell(value=value, best=best, na=na, digits=None if _missing(digits) else int(digits),
                best_digits=None if _missing(best_digits) else int(best_digits),
                ci=(low, high) if low is not None and high is not None else None,
                seed_sd=_number(run, metric + SUFFIX) if seeds and seeds > 1 else None,
                seeds=int(seeds) if seeds else None)


def _rows(spec: TableSpec, frame: pd.DataFrame, origin: str, labels: dict[str, str], suffix: str) -> dict[tuple, list[Row]]:
    """Rows per group key from the runs chosen for the cells (measured: :func:`measured_runs`; reported:
    the layout's rows, the paper's N first)."""
    keys = list(spec.group_keys + spec.row_keys)
    if origin != "measured":
        frame = _prefer(spec.select(frame), keys + ["task"])
    out: dict[tuple, list[Row]] = {}
    for values, runs in frame.groupby(keys, dropna=False, sort=False):
        key_map = dict(zip(keys, values))
        by_task = {run["task"]: run for _, run in runs.iterrows()}
        row = Row(spec.row_label(key_map, labels) + suffix, origin, key_map,
                  runs={task: run.to_dict() for task, run in by_task.items()} if origin == "measured" else {})
        recon = by_task.get("reconstruction")
        if recon is not None and not _missing(recon.get("videos")):
            row.keys["videos"] = int(recon["videos"])  # evaluated test videos, shown beside the split size
        for column in spec.columns:
            for metric in column.metrics:
                row.cells[(column.task, metric)] = _cell(by_task.get(column.task), metric, column.task)
        out.setdefault(tuple(key_map[k] for k in spec.group_keys), []).append(row)
    for rows in out.values():
        rows.sort(key=lambda r: spec.row_order(r.keys))
        _disambiguate(rows, suffix)
    return out


def _disambiguate(rows: list[Row], suffix: str) -> None:
    """Rows of one group that share a label (same method, several N) get ``(N=n)`` appended."""
    seen: dict[str, int] = {}
    for row in rows:
        seen[row.label] = seen.get(row.label, 0) + 1
    for row in rows:
        if seen[row.label] > 1 and not _missing(row.keys.get("num_refs")):
            base = row.label[: len(row.label) - len(suffix)] if suffix else row.label
            row.label = f"{base} (N={row.keys['num_refs']}){suffix}"


def extra_columns(spec: TableSpec, measured: pd.DataFrame | None) -> tuple[Column, ...]:
    """Columns for registered metrics that the selected runs logged a value of beyond the paper's layout
    (e.g. a plugin metric, AED), after the layout, in registration order, for the layout's tasks."""
    from bench.metrics import METRICS

    if measured is None or measured.empty:
        return ()
    runs = spec.select(measured)
    shown = {(c.task, m) for c in spec.columns for m in c.metrics}
    extra = []
    for task in dict.fromkeys(c.task for c in spec.columns):
        logged = runs[runs["task"] == task]
        for metric in METRICS.ordered():
            if (task, metric) in shown or task not in info(metric).tasks:
                continue
            if metric in logged and logged[metric].notna().any():  # a column of N/A only would be noise
                extra.append(Column(task, (metric,)))
    return tuple(extra)


def default_fetch(run: dict[str, Any]) -> pd.DataFrame | None:
    """A measured run's ``per_video.csv`` from the tracking store's artifacts."""
    from bench.reports.artifacts import per_video_table

    return per_video_table(str(run["run_id"]), run.get("artifact_uri"))


def build_table(name: str, measured: pd.DataFrame | None, reported: pd.DataFrame | None = None,
                reported_labels: dict[str, str] | None = None, fetch: PerVideoFetch | None = default_fetch,
                intervals: bool = False) -> Table:
    """Table ``name`` from measured runs and (optionally) reported rows.

    With measured rows, reported rows are shown only for groups that also have measured rows.
    ``fetch`` reads a measured run's per-video values (the paired tests behind the marks);
    ``intervals`` shows each measured value's interval.
    """
    if name not in SPECS:
        raise UserError(f"unknown table '{name}'; choose from: {', '.join(SPECS)}")
    spec = SPECS[name]
    spec = dataclasses.replace(spec, columns=spec.columns + extra_columns(spec, measured))
    selection = measured_runs(spec, measured if measured is not None else pd.DataFrame())
    measured_rows = _rows(spec, selection.runs, "measured", {}, "") if len(selection.runs) else {}
    reported_rows: dict[tuple, list[Row]] = {}
    if reported is not None and len(reported):
        suffix = " (reported)" if measured_rows else ""
        labels = (reported_labels or {}) if not measured_rows else {}
        reported_rows = _rows(spec, reported, "reported", labels, suffix)
    group_keys = list(measured_rows) if measured_rows else list(reported_rows)
    group_keys.sort(key=lambda g: tuple(order_key(DATASET_ORDER, v) for v in g))
    groups = []
    for key in group_keys:
        mine = measured_rows.get(key, [])
        theirs = reported_rows.get(key, [])
        mark_rows(mine or theirs, spec.columns, fetch if mine else None)
        first = (mine or theirs)[0]
        groups.append(Group(spec.group_lines(first.keys), mine + theirs))
    caption = spec.caption + convention_note(selection.runs if len(selection.runs) else None)
    if measured_rows:
        caption += " " + RULE
    notes = published_notes(name) if reported_rows else []
    return Table(spec.name, caption, spec.group_header, spec.row_header, spec.columns, groups,
                 left_out=selection.left_out, intervals=intervals, notes=notes)


def convention_note(runs: pd.DataFrame | None) -> str:
    """The caption sentence naming how the measured rows averaged frame-wise metrics (``mb.convention``)."""
    from bench.metrics.aggregation import CONVENTIONS

    if runs is None or runs.empty or "convention" not in runs:
        return ""
    names = sorted({str(c) for c in runs["convention"].dropna()})
    if len(names) == 1:
        return f" Measured frame-wise metrics: {names[0]} convention, {CONVENTIONS.get(names[0], 'not recorded')}."
    if names:
        return f" Measured rows mix averaging conventions ({', '.join(names)}): compare with care."
    return ""
