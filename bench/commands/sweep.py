"""``bench sweep``: run a grid of evaluations from configs/experiments/*.yaml, skipping complete ones."""
from __future__ import annotations

import argparse
import sys

from bench.commands._common import add_verb

EXAMPLES = """\
  bench sweep configs/experiments/table1.yaml --dry-run     # the grid, what is complete, the commands
  bench sweep configs/experiments/table1.yaml               # run what is not complete yet
  bench sweep configs/experiments/nviews.yaml --device cuda:1
  torchrun --nproc_per_node 4 -m bench sweep configs/experiments/ablation.yaml
"""


def cmd_sweep(args: argparse.Namespace) -> int:
    import dataclasses

    from bench import tracking
    from bench.errors import UserError
    from bench.distributed import gather_objects, init_distributed, shutdown
    from bench.runner import execute, plan_run
    from bench.runner.settings import command_line
    from bench.runner.sweep import job_status, load_sweep

    jobs = load_sweep(args.file)
    tracking.ensure_reachable()
    ctx = init_distributed(args.device)
    say = print if ctx.is_main else (lambda *a, **k: None)
    failures: list[str] = []
    counts = {"complete": 0, "ran": 0, "pending": 0}
    try:
        for number, job in enumerate(jobs, start=1):
            status, _ = gather_objects(job_status(job) if ctx.is_main else None, ctx)[0]
            head = f"[{number}/{len(jobs)}] {job.label}"
            if status == "complete":
                counts["complete"] += 1
                say(f"{head}: complete, skipped")
                continue
            if args.dry_run:
                counts["pending"] += 1
                say(f"{head}: {status}\n    {command_line(job.settings)}")
                continue
            if status.startswith("error"):
                failures.append(f"{job.label}: {status[7:]}")
                say(f"{head}: {status}")
                continue
            say(f"{head}: running -> {job.settings.out}")
            settings = dataclasses.replace(job.settings, device=args.device or job.settings.device)
            try:
                execute(plan_run(settings, ctx=ctx))
                counts["ran"] += 1
            except UserError as exc:
                failures.append(f"{job.label}: {exc}")
                say(f"{head}: failed: {exc}")
    finally:
        shutdown(ctx)
    if args.dry_run:
        say(f"sweep {args.file}: {len(jobs)} run(s): {counts['complete']} already complete, {counts['pending']} to run")
        return 0
    say(f"sweep {args.file}: {len(jobs)} run(s): {counts['complete']} already complete, {counts['ran']} ran now, "
        f"{len(failures)} failed")
    for line in failures:
        if ctx.is_main:
            sys.stderr.write(f"  failed {line}\n")
    return 1 if failures else 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_verb(sub, "sweep", "run a grid of evaluations (methods x datasets x variants) from a YAML file",
                      EXAMPLES, description="Run every (method, dataset, variant, task) of an experiment file in "
                      "configs/experiments/ with bench run, skipping those that already have a complete MLflow run "
                      "with the same run key. A cell that fails (e.g. a missing checkpoint) is reported and the "
                      "sweep goes on; the exit code is 1 when any failed.")
    parser.add_argument("file", help="experiment YAML, e.g. configs/experiments/table1.yaml")
    parser.add_argument("--dry-run", action="store_true", help="list the runs, their status and commands; run nothing")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when available)")
    parser.set_defaults(func=cmd_sweep)
