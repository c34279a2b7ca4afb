"""``bench run``: evaluate a method on a dataset under the paper's protocols."""
from __future__ import annotations

import argparse

from bench.commands._common import add_set_option, add_verb
from bench.runner.settings import DEFAULT_PAIRS, OFFICIAL, RunSettings

EXAMPLES = """\
  bench run --method copy-source --dataset synthetic --max-videos 4
  bench run --method sadm --dataset nemo --root data/nemo --checkpoint runs/train/sadm-nemo/last.pt
  bench run --method fomm --dataset vox --root data/vox --official fomm --checkpoint vox-cpk.pth.tar --config vox-256.yaml
  bench run --method sadm --dataset dfdc --checkpoint sadm-dfdc.pt --refs 5 --variant n5 --task reconstruction
  bench run --method sadm --dataset nemo --checkpoint sadm-vox.pt --variant generality   # trained on vox
  torchrun --nproc_per_node 4 -m bench run --method mraa --dataset taichi --checkpoint mraa-taichi.pt
"""


def _metric_list(text: str) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", required=True, help="registered method (copy-source, fomm, mraa, sadm, ...)")
    parser.add_argument("--dataset", required=True, help="dataset name (bench datasets list)")
    parser.add_argument("--root", help="dataset root in FOMM layout (ROOT/test/<video>); synthetic is generated")
    parser.add_argument("--checkpoint", help="weights: a motionbench checkpoint, or an official one with --official")
    parser.add_argument("--official", choices=OFFICIAL, help="--checkpoint is an official FOMM/MRAA file")
    parser.add_argument("--trusted", action="store_true",
                        help="allow a full pickle load of the checkpoint (can run code: only for files you trust)")
    parser.add_argument("--config", help="method YAML (its model_params); default configs/methods/<method>/<dataset>.yaml")
    add_set_option(parser)
    parser.add_argument("--task", default="all", choices=("reconstruction", "animation", "all"))
    parser.add_argument("--refs", type=int, help="reference views N (default: the model's num_refs, else 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of reference frames and animation pairs")
    parser.add_argument("--metrics", type=_metric_list, help="comma-separated subset, e.g. l1,ssim,psnr")
    parser.add_argument("--strict", action="store_true", help="missing metric weights are fatal instead of N/A")
    parser.add_argument("--out", help="output folder (default runs/<dataset>/<method>-<variant>-<hash of the settings>)")
    parser.add_argument("--save-videos", type=int, default=0, metavar="K",
                        help="write K side-by-side videos (source | driving | generated)")
    parser.add_argument("--variant", default="default", help="label of this configuration (ablation / sweep cell)")
    parser.add_argument("--max-videos", type=int, metavar="K", help="evaluate only the first K videos / pairs")
    parser.add_argument("--pairs", help="animation pairs CSV (FOMM format distance,source,driving,frame)")
    parser.add_argument("--num-pairs", type=int, default=DEFAULT_PAIRS, help="seeded animation pairs (default 200)")
    parser.add_argument("--no-best-of-refs", dest="best_of_refs", action="store_false",
                        help="skip the best-of-references runs of one-shot methods")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per forward pass")
    parser.add_argument("--train-dataset", help="dataset the weights were trained on (recorded; read from our checkpoints)")
    parser.add_argument("--weights-dir", help="folder with metric backbone weights (else the standard caches)")
    parser.add_argument("--no-track", dest="track", action="store_false", help="do not log to MLflow")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when available)")


def settings_from_args(args: argparse.Namespace) -> RunSettings:
    return RunSettings(
        method=args.method, dataset=args.dataset, root=args.root, checkpoint=args.checkpoint, official=args.official,
        config=args.config, overrides=list(args.overrides), task=args.task, refs=args.refs, seed=args.seed,
        metrics=args.metrics, strict=args.strict, out=args.out, save_videos=args.save_videos, variant=args.variant,
        max_videos=args.max_videos, pairs=args.pairs, num_pairs=args.num_pairs, best_of_refs=args.best_of_refs,
        batch_size=args.batch_size, device=args.device, train_dataset=args.train_dataset,
        weights_dir=args.weights_dir, trusted=args.trusted, track=args.track)


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
    from bench.runner import run
    from bench.distributed import init_distributed, shutdown

    ctx = init_distributed(args.device)
    try:
        reports = run(settings_from_args(args))
    finally:
        shutdown(ctx)
    if ctx.is_main:
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
    add_run_options(parser)
    parser.set_defaults(func=cmd_run)
