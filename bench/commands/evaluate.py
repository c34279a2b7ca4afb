"""``bench evaluate``: metrics on generated videos made elsewhere."""
from __future__ import annotations

import argparse
import sys

from bench.commands._common import add_verb
from bench.errors import UserError
from bench.metrics.aggregation import CONVENTIONS, DEFAULT_CONVENTION

DEFAULT_METRICS = "l1,psnr,ssim,ms_ssim,lpips,fid"


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_verb(
        sub, "evaluate", "score generated videos against the real test videos of the same name",
        examples="  bench evaluate --real data/vox --generated out/reconstruction/png --metrics l1,psnr,ssim --out scores\n"
                 "  bench evaluate --real data/vox --generated anim/ --metrics fid,csim,akd --domain face "
                 "--sources pairs.csv --out scores\n",
        description="Score generated videos (any FOMM format, e.g. FOMM's one-png-strip-per-video output) against "
                    "the real videos of the same name in ROOT/test (or ROOT). Writes OUT/per_video.csv and "
                    "OUT/summary.json. Pairs whose frame count or size differ are reported and skipped.")
    parser.add_argument("--real", required=True, metavar="ROOT", help="dataset root (ROOT/test) or folder of real videos")
    parser.add_argument("--generated", required=True, metavar="DIR", help="folder of generated videos")
    parser.add_argument("--metrics", default=DEFAULT_METRICS, help=f"comma-separated metric names (default {DEFAULT_METRICS})")
    parser.add_argument("--domain", default="none", help="face, body, robot, cartoon, synthetic or none "
                        "(AKD/CSIM/AED need face or body)")
    parser.add_argument("--sources", metavar="FILE", help="CSV 'generated,source_image': the videos are animations and "
                        "FID / CSIM / AED compare with the source image, as in bench run's animation task; without it "
                        "every metric compares with the real frames")
    parser.add_argument("--backend", action="append", default=[], metavar="METRIC=NAME",
                        help="backend of a metric, e.g. akd=dlib or csim=dlib (repeatable)")
    parser.add_argument("--convention", default=DEFAULT_CONVENTION, choices=tuple(CONVENTIONS),
                        help="fomm: frame-wise metrics pooled over every frame of every video (FOMM, "
                             "pose-evaluation; default); video-mean: mean of per-video means")
    parser.add_argument("--column", type=int, metavar="N",
                        help="generated frames hold several images side by side (e.g. source | driving | prediction): "
                             "score the N-th (from 0), of the real frames' width, as pose-evaluation's extract.py "
                             "--column N")
    parser.add_argument("--weights-dir", metavar="DIR", help="folder searched first for pretrained weight files")
    parser.add_argument("--allow-download", action="store_true", help="download missing public weights into the caches")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per metric update (default 16)")
    parser.add_argument("--out", required=True, metavar="OUT", help="output folder")
    parser.set_defaults(func=run)


def _backends(items: list[str], metrics: list[str]) -> dict[str, str]:
    from bench.runner.settings import parse_assignments

    out = parse_assignments(items, "--backend", "METRIC=NAME")
    stray = [m for m in out if m not in metrics]
    if stray:
        raise UserError(f"--backend {stray[0]}=...: '{stray[0]}' is not among --metrics {','.join(metrics)}")
    return out


def run(args: argparse.Namespace) -> int:
    from bench.metrics import METRICS, build_metric, metric_info
    from bench.metrics.bootstrap import IntervalSpec
    from bench.metrics.evaluation import evaluate_folders, parse_metric_names, read_sources
    from bench.metrics.report_io import write_results
    from bench.utils import pick_device

    from bench.files import ensure_folder

    ensure_folder(args.out)  # an unusable output folder fails before any compute
    names = parse_metric_names(args.metrics, METRICS.names())
    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if args.column is not None and args.column < 0:
        raise UserError("--column must be 0 or more")
    backends = _backends(args.backend, names)
    device = pick_device(args.device)
    sources = read_sources(args.sources) if args.sources else None
    # with --sources the generated videos are animations: each metric compares with what it declares
    # for the animation task (the source image for FID / CSIM / AED), as bench run does
    targets = {name: metric_info(name).target("animation") if sources else "driving" for name in names}
    metrics = {name: build_metric(name, args.domain, device, weights_dir=args.weights_dir, backend=backends.get(name),
                                  allow_download=args.allow_download, target=targets[name]) for name in names}
    intervals = IntervalSpec().validate()
    evaluation = evaluate_folders(args.real, args.generated, metrics, sources, args.batch_size,
                                  progress=lambda video: print(f"scored {video}", file=sys.stderr), column=args.column,
                                  convention=args.convention, intervals=intervals)
    csv_path, json_path = write_results(args.out, evaluation.results, evaluation.skipped, convention=args.convention,
                                        intervals=intervals)
    for name, result in evaluation.results.items():
        shown = f"{result.value:.4f}" if result.available else f"N/A ({result.na_reason})"
        print(f"{name:8s} {shown}")
    for video, reason in evaluation.skipped.items():
        print(f"skipped {video}: {reason}")
    print(f"{len(evaluation.evaluated)} videos scored, {len(evaluation.skipped)} skipped; wrote {csv_path} and {json_path}")
    return 0
