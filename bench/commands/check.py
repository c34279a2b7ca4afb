"""``bench check``: the regression gate of CI (exit 1 on a regression)."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from bench.commands._common import add_verb
from bench.errors import UserError

EXAMPLES = """  bench check --baseline configs/baselines/ci.yaml            # exit 1 if a metric regressed
  bench check --baseline configs/baselines/ci.yaml --update   # accept the latest runs as the new baseline
  bench check --baseline my.yaml --dataset synthetic --all    # only synthetic runs, list unchanged metrics too
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_verb(sub, "check", "compare the latest runs with a baseline (regression gate)", EXAMPLES,
                      "Compare the latest complete run per (method, dataset, task, variant) whose settings match the "
                      "baseline entry's with it, video by video: a metric regressed when the paired bootstrap "
                      "interval of its change lies wholly beyond the allowed move in its bad direction. Exit 1 on a "
                      "regression or on a baseline entry or metric without a run, 0 otherwise. Runs of untrained "
                      "models (--random-init) are never compared.")
    parser.add_argument("--baseline", required=True, metavar="YAML", help="baseline file (e.g. configs/baselines/ci.yaml)")
    parser.add_argument("--update", action="store_true",
                        help="rewrite the baseline from the latest runs with their per-video values and settings "
                             "(keeps tolerances, source and interval settings)")
    parser.add_argument("--dataset", help="only runs / baseline entries of this dataset")
    parser.add_argument("--method", help="only runs / baseline entries of this method")
    parser.add_argument("--all", action="store_true", help="list every compared metric, not only those that moved")
    parser.set_defaults(func=run)


def _keep(key: tuple[str, ...], args: argparse.Namespace) -> bool:
    method, dataset = key[0], key[1]
    return (args.dataset is None or dataset == args.dataset) and (args.method is None or method == args.method)


def _per_video(run):
    from bench.reports.artifacts import per_video_table

    return per_video_table(run["run_id"], run.get("artifact_uri"))


def update(path: Path, frame, args: argparse.Namespace) -> int:
    from bench.reports.gate import entry_from_run, load_baseline, write_baseline
    from bench.reports.runs import RUN_KEY, latest

    runs = [run for _, run in latest(frame, RUN_KEY).iterrows() if _keep(tuple(str(run[k]) for k in RUN_KEY), args)]
    entries = {tuple(str(run[k]) for k in RUN_KEY): entry_from_run(run, _per_video(run)) for run in runs}
    entries = {key: entry for key, entry in entries.items() if entry.metrics}
    if not entries:
        raise UserError("no complete evaluation runs to write a baseline from")
    previous = load_baseline(path) if path.is_file() else None
    print(f"wrote {write_baseline(path, entries, previous)} ({len(entries)} runs)")
    return 0


def run(args: argparse.Namespace) -> int:
    from bench.reports.gate import STATUSES, compare, failed, load_baseline
    from bench.reports.render import frame_to_markdown
    from bench.reports.runs import load_runs

    frame = load_runs()
    path = Path(args.baseline)
    if args.update:
        return update(path, frame, args)
    baseline = load_baseline(path)
    baseline = replace(baseline, runs={k: v for k, v in baseline.runs.items() if _keep(k, args)})
    if not baseline.runs:
        raise UserError(f"{path} has no entries to check" + (" for the given filters" if args.dataset or args.method else ""))
    report = compare(baseline, frame, _per_video)
    shown = report if args.all else report[report["status"] != "same"]
    if len(shown):
        sys.stdout.write(frame_to_markdown(shown))
    counts = report["status"].value_counts()
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES)
    verdict = "FAIL" if failed(report) else "OK"
    print(f"bench check: {verdict}: {len(report)} metrics of {len(baseline.runs)} runs compared with {path}: {summary}")
    if counts.get("missing", 0) and baseline.source:
        print(f"  missing: no run with the baseline entry's settings and videos; the baseline comes from: "
              f"{baseline.source}")
    return 1 if failed(report) else 0
