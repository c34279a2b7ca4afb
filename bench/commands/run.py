"""``bench run``: evaluate a method on a dataset under the paper's protocols."""
from __future__ import annotations

import argparse

from bench.commands._common import add_verb
from bench.runner.settings import add_arguments, from_namespace

EXAMPLES = """\
  bench run --method copy-source --dataset synthetic --max-videos 4
  bench run --method sadm --dataset nemo --root data/nemo --checkpoint runs/train/sadm-nemo/last.pt
  bench run --method fomm --dataset vox --root data/vox --official --checkpoint vox-cpk.pth.tar --config vox-256.yaml
  bench run --method sadm --dataset dfdc --checkpoint sadm-dfdc.pt --refs 5 --variant n5 --task reconstruction
  bench run --method sadm --dataset nemo --checkpoint sadm-vox.pt --variant generality   # trained on vox
  torchrun --nproc_per_node 4 -m bench run --method mraa --dataset taichi --checkpoint mraa-taichi.pt
"""


def format_report(report) -> str:
    """A few lines per task: where the files are, the means, what was left out."""
    lines = [f"{report.task}: {report.items} item(s), {report.computed} computed now -> {report.out_dir}"]
    for name, result in report.results.items():
        value = f"{result.value:.4f}" if result.available else f"N/A ({result.na_reason})"
        std = result.extra.get("std")
        lines.append(f"  {name:<12} {value}" + (f"  (std {std:.4f})" if std is not None else ""))
    for video, reason in report.skipped.items():
        lines.append(f"  left out {video}: {reason}")
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    from bench.distributed import shutdown
    from bench.runner import execute, plan_run

    plan = plan_run(from_namespace(args))
    try:
        reports = execute(plan)
    finally:
        shutdown(plan.ctx)
    if plan.ctx.is_main:
        for report in reports:
            print(format_report(report))
            if report.run_id:
                print(f"  mlflow run {report.run_id}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_verb(sub, "run", "evaluate a method on a dataset (reconstruction, animation)", EXAMPLES,
                      description="Evaluate a method under the paper's protocols (Section 4). Reconstruction: the "
                      "first frame of each test video is the source, N seeded frames of it the references, every "
                      "frame the driving; animation: seeded pairs of different identities with relative motion. "
                      "Writes OUT/per_video.csv and OUT/summary.json (OUT/<task>/ with --task all), logs one MLflow "
                      "run per task, resumes from OUT/state after an interruption, and shards videos when started "
                      "with torchrun.")
    add_arguments(parser)
    parser.set_defaults(func=cmd_run)
