"""``bench evaluate``: metrics on generated videos made elsewhere."""
from __future__ import annotations

import argparse
import sys

from bench.commands._common import add_verb
from bench.errors import UserError

DEFAULT_METRICS = ["l1", "psnr", "ssim", "ms_ssim", "lpips", "fid"]
#: the bench run options bench evaluate takes (declared on RunSettings), with its own defaults
RUN_OPTIONS = ("metrics", "backends", "convention", "strict", "ci_method", "ci_resamples", "ci_resamples_distribution",
               "seed", "weights_dir", "allow_download", "batch_size", "device")
DEFAULTS = {"metrics": (DEFAULT_METRICS, f"comma-separated metric names (default {','.join(DEFAULT_METRICS)})"),
            "seed": (0, "seed of the intervals' bootstrap draw (default 0)")}


def register(sub: argparse._SubParsersAction) -> None:
    from bench.runner.settings import add_arguments

    parser = add_verb(
        sub, "evaluate", "score generated videos against the real test videos of the same name",
        examples="  bench evaluate --real data/vox --generated out/reconstruction/png --metrics l1,psnr,ssim --out scores\n"
                 "  bench evaluate --real data/vox --generated anim/ --metrics fid,csim,akd --domain face "
                 "--sources pairs.csv --out scores\n",
        description="Score generated videos (any FOMM format, e.g. FOMM's one-png-strip-per-video output) against "
                    "the real videos of the same name in ROOT/test (or ROOT). Writes OUT/per_video.csv and "
                    "OUT/summary.json. Pairs whose frame count or size differ are reported and skipped. A metric "
                    "whose weights are missing is N/A with its reason (--strict: an error), as in bench run.")
    parser.add_argument("--real", required=True, metavar="ROOT", help="dataset root (ROOT/test) or folder of real videos")
    parser.add_argument("--generated", required=True, metavar="DIR", help="folder of generated videos")
    parser.add_argument("--domain", default="none", help="face, body, robot, cartoon, synthetic or none "
                        "(AKD/CSIM/AED need face or body)")
    parser.add_argument("--sources", metavar="FILE", help="CSV 'generated,source_image': the videos are animations and "
                        "FID / CSIM / AED compare with the source image, as in bench run's animation task; without it "
                        "every metric compares with the real frames")
    parser.add_argument("--column", type=int, metavar="N",
                        help="generated frames hold several images side by side (e.g. source | driving | prediction): "
                             "score the N-th (from 0), of the real frames' width, as pose-evaluation's extract.py "
                             "--column N")
    parser.add_argument("--out", required=True, metavar="OUT", help="output folder (created when scoring starts)")
    add_arguments(parser, RUN_OPTIONS, DEFAULTS)
    parser.set_defaults(func=run)


def _inputs(args: argparse.Namespace) -> tuple[list[str], dict[str, str], dict | None]:
    """Every input checked before any weights are looked for: metric names, backends, options, folders, sources."""
    from pathlib import Path

    from bench.metrics import METRICS
    from bench.metrics.evaluation import index_videos, parse_metric_names, read_sources, real_split_dir
    from bench.metrics.factory import check_backends
    from bench.runner.settings import parse_assignments

    names = parse_metric_names(",".join(args.metrics), METRICS.names())
    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if args.column is not None and args.column < 0:
        raise UserError("--column must be 0 or more")
    backends = parse_assignments(args.backends, "--backend", "METRIC=NAME")
    stray = [m for m in backends if m not in names]
    if stray:
        raise UserError(f"--backend {stray[0]}=...: '{stray[0]}' is not among --metrics {','.join(names)}")
    check_backends(backends, args.domain)
    index_videos(real_split_dir(args.real))
    index_videos(Path(args.generated))
    return names, backends, read_sources(args.sources) if args.sources else None


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bench.files import ensure_folder
    from bench.metrics.evaluation import Scoring, evaluate_folders
    from bench.metrics.report_io import write_results
    from bench.runner.plan import MetricSetup, build_metrics
    from bench.runner.settings import interval_spec
    from bench.utils import pick_device

    names, backends, sources = _inputs(args)
    intervals = interval_spec(args.ci_method, args.ci_resamples, args.ci_resamples_distribution, args.seed)
    setup = MetricSetup(args.domain, pick_device(args.device), backends, args.weights_dir, args.allow_download,
                        args.strict)
    # with --sources the generated videos are animations: each metric compares with what it declares
    # for the animation task (the source image for FID / CSIM / AED), as bench run does
    metrics, unavailable = build_metrics(names, "animation" if sources else "reconstruction", setup)
    ensure_folder(args.out)  # scoring starts: an unusable output folder fails before any frame is read
    scoring = Scoring(args.batch_size, args.column, args.convention, intervals)
    evaluation = evaluate_folders(args.real, args.generated, metrics, sources, scoring, unavailable,
                                  progress=lambda video: print(f"scored {video}", file=sys.stderr))
    evaluation.results = {name: evaluation.results[name] for name in names}  # in the order asked for
    csv_path, json_path = write_results(Path(args.out), evaluation.results, evaluation.skipped,
                                        convention=args.convention, intervals=intervals)
    for name, result in evaluation.results.items():
        shown = f"{result.value:.4f}" if result.available else f"N/A ({result.na_reason})"
        print(f"{name:8s} {shown}")
    for video, reason in evaluation.skipped.items():
        print(f"skipped {video}: {reason}")
    print(f"{len(evaluation.evaluated)} videos scored, {len(evaluation.skipped)} skipped; wrote {csv_path} and {json_path}")
    return 0
