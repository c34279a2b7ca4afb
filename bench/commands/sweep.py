"""``bench sweep``: train and evaluate the cells of an experiment file, here or as SLURM jobs."""
from __future__ import annotations

import argparse
import sys

from bench.commands._common import add_verb

EXAMPLES = """\
  bench sweep configs/experiments/table1.yaml --dry-run     # the cells, what is complete, the commands
  bench sweep configs/experiments/table1.yaml               # run what is not complete yet, here
  bench sweep configs/experiments/nviews.yaml --device cuda:1
  torchrun --nproc_per_node 4 -m bench sweep configs/experiments/ablation.yaml
  bench sweep configs/experiments/synthetic-grid.yaml --executor slurm --wait   # one SLURM job per cell
  bench sweep configs/experiments/table1.yaml --executor slurm --partition gpu --gpus-per-node 4 --time-min 720
  bench sweep configs/experiments/table1.yaml --status      # every cell: queued, running, complete, failed; job; log
"""


def _resource_flags(args: argparse.Namespace) -> dict[str, object]:
    from bench.experiment.resources import FLAGS

    return {name: getattr(args, name) for name in FLAGS.values()}


def _print_status(experiment, say) -> int:
    import shutil

    from bench.experiment.scheduler import job_states
    from bench.experiment.status import experiment_statuses, recorded_ids

    ids = recorded_ids(experiment)
    states = job_states(ids) if ids and shutil.which("squeue") else {}
    statuses = experiment_statuses(experiment, states)
    width = max((len(s.label) for s in statuses), default=20)
    for status in statuses:
        say(status.line(width))
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status.state] = counts.get(status.state, 0) + 1
    say(f"sweep {experiment.path}: {len(statuses)} cell(s): " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return 0


def _slurm(experiment, args: argparse.Namespace, say) -> int:
    from bench.experiment.scheduler import check_fits, require_slurm
    from bench.experiment.slurm import require_submitit, submit_experiment, wait_for

    from bench import tracking

    require_submitit()
    require_slurm()
    check_fits(experiment.resources)
    if tracking.tracking_uri().startswith("sqlite:"):
        say(f"note: the jobs write to the sqlite file of {tracking.tracking_uri()}: it must be on storage they all "
            "see, and many jobs at once want a tracking server (README, 'Running on a cluster')")
    submission, before = submit_experiment(experiment, args.device)
    active = [s for s in before if s.active]
    complete = sum(s.state == "complete" for s in before)
    for status in before:
        if status.state == "error":
            say(f"  error {status.label}: {status.detail}")
    say(f"sweep {args.file}: {len(before)} cell(s): {complete} already complete, {len(active)} queued or running, "
        f"{len(submission.jobs)} submitted now in {len(submission.groups)} job(s)/array(s) "
        f"(logs: {experiment.jobs_dir / 'logs'}; bench sweep {args.file} --status)")
    if not args.wait:
        return 0
    wait_for(list(submission.jobs.values()) + [s.record.job_id for s in active], say)
    return _after_wait(experiment, say)


def _after_wait(experiment, say) -> int:
    from bench.experiment.scheduler import job_states
    from bench.experiment.status import experiment_statuses, recorded_ids

    statuses = experiment_statuses(experiment, job_states(recorded_ids(experiment)))
    unfinished = [s for s in statuses if s.state != "complete"]
    for status in unfinished:
        sys.stderr.write(status.line() + "\n")
    say(f"sweep {experiment.path}: {len(statuses) - len(unfinished)} of {len(statuses)} cell(s) complete")
    return 1 if unfinished else 0


def cmd_sweep(args: argparse.Namespace) -> int:
    import os

    from bench import tracking
    from bench.experiment.load import load_experiment
    from bench.experiment.local import run_local

    experiment = load_experiment(args.file, _resource_flags(args))
    tracking.ensure_reachable()
    main = int(os.environ.get("RANK", "0")) == 0
    say = print if main else (lambda *a, **k: None)
    if args.status:
        return _print_status(experiment, say)
    if args.executor == "slurm" and not args.dry_run:
        return _slurm(experiment, args, say)
    outcome = run_local(experiment, args.device, args.dry_run, say)
    total = len(experiment.train) + len(experiment.evals)
    if args.dry_run:
        say(f"sweep {args.file}: {total} run(s): {outcome.complete} already complete, {outcome.pending} to run, "
            f"{len(outcome.failures)} cannot run")
        return 1 if outcome.failures else 0
    say(f"sweep {args.file}: {total} run(s): {outcome.complete} already complete, {outcome.ran} ran now, "
        f"{len(outcome.failures)} failed")
    if main:
        for line in outcome.failures:
            sys.stderr.write(f"  failed {line}\n")
    return 1 if outcome.failures else 0


def register(sub: argparse._SubParsersAction) -> None:
    from bench.experiment.resources import FLAGS

    parser = add_verb(sub, "sweep", "train and evaluate the cells of an experiment file (here, or on SLURM)",
                      EXAMPLES, description="Run the cells of an experiment file in configs/experiments/: its "
                      "training cells (a 'train' section) and its evaluation cells (methods x datasets x variants "
                      "x tasks, evaluating the checkpoints the training cells write), in dependency order, "
                      "skipping cells that already have a complete MLflow run (an interrupted training resumes "
                      "from its last.pt). --executor slurm submits one SLURM job per cell (job arrays where "
                      "cells are alike; evaluation after its training: afterok) and never a cell that is queued "
                      "or running. A cell that fails is reported and the others go on; the exit code is 1 when "
                      "any failed.")
    parser.add_argument("file", help="experiment YAML, e.g. configs/experiments/table1.yaml")
    parser.add_argument("--executor", choices=("local", "slurm"), default="local",
                        help="local: here, one cell after another (default); slurm: one SLURM job per cell "
                             "(needs pip install -e \".[cluster]\")")
    parser.add_argument("--dry-run", action="store_true", help="list the cells, their status and commands; run nothing")
    parser.add_argument("--status", action="store_true",
                        help="every cell: complete, queued, running, failed, waiting, pending; its job and log")
    parser.add_argument("--wait", action="store_true", help="slurm: wait until the submitted jobs end (exit 1 "
                                                           "unless every cell is complete)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when available)")
    group = parser.add_argument_group("SLURM resources (over the experiment file's 'resources'; train and eval jobs)")
    types = {"nodes": int, "gpus_per_node": int, "tasks_per_node": int, "cpus_per_task": int, "mem_gb": float,
             "time_min": int}
    for flag, name in FLAGS.items():
        group.add_argument(flag, dest=name, type=types.get(name, str), default=None,
                           help=f"resources: {name} of every job")
    parser.set_defaults(func=cmd_sweep)
