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
                      "Compare the metrics of the latest complete run per (method, dataset, task, variant) with "
                      "the baseline, with its tolerances and each metric's direction. Exit 1 on a regression or "
                      "on a baseline entry without a run, 0 otherwise.")
    parser.add_argument("--baseline", required=True, metavar="YAML", help="baseline file (e.g. configs/baselines/ci.yaml)")
    parser.add_argument("--update", action="store_true", help="rewrite the baseline from the latest runs (keeps tolerances)")
    parser.add_argument("--dataset", help="only runs / baseline entries of this dataset")
    parser.add_argument("--method", help="only runs / baseline entries of this method")
    parser.add_argument("--all", action="store_true", help="list every compared metric, not only those that moved")
    parser.set_defaults(func=run)


def _keep(key: tuple[str, ...], args: argparse.Namespace) -> bool:
    method, dataset = key[0], key[1]
    return (args.dataset is None or dataset == args.dataset) and (args.method is None or method == args.method)


def run(args: argparse.Namespace) -> int:
    from bench.reports.gate import compare, failed, latest_metrics, load_baseline, write_baseline
    from bench.reports.render import frame_to_markdown
    from bench.reports.runs import load_runs

    current = {k: v for k, v in latest_metrics(load_runs()).items() if _keep(k, args)}
    path = Path(args.baseline)
    if args.update:
        if not current:
            raise UserError("no complete evaluation runs to write a baseline from")
        previous = load_baseline(path) if path.is_file() else None
        print(f"wrote {write_baseline(path, current, previous)} ({len(current)} runs)")
        return 0
    baseline = load_baseline(path)
    baseline = replace(baseline, runs={k: v for k, v in baseline.runs.items() if _keep(k, args)})
    if not baseline.runs:
        raise UserError(f"{path} has no entries to check" + (" for the given filters" if args.dataset or args.method else ""))
    report = compare(baseline, current)
    shown = report if args.all else report[report["status"] != "same"]
    if len(shown):
        sys.stdout.write(frame_to_markdown(shown))
    counts = report["status"].value_counts()
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("regression", "missing", "improved", "within", "same"))
    verdict = "FAIL" if failed(report) else "OK"
    print(f"bench check: {verdict}: {len(report)} metrics of {len(baseline.runs)} runs compared with {path}: {summary}")
    return 1 if failed(report) else 0
