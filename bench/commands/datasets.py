"""``bench datasets list|verify|pairs|synth|prepare``: inspect, check and prepare datasets."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from bench.commands._common import add_verb
from bench.datasets import DATASETS, get_dataset, resolve_root
from bench.datasets.spec import IDENTITY_RULE_HELP
from bench.errors import UserError


def _list(args: argparse.Namespace) -> int:
    header = ("name", "title", "domain", "size", "test", "train", "identity rule")
    rows = [header]
    for name in DATASETS.names():
        spec = get_dataset(name)
        rows.append((spec.name, spec.title, spec.domain, f"{spec.frame_size[1]}x{spec.frame_size[0]}",
                     str(spec.test_count if spec.test_count is not None else "-"),
                     str(spec.train_count if spec.train_count is not None else "-"),
                     spec.identity_rule))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print("\nidentity rules:")
    for rule, text in IDENTITY_RULE_HELP.items():
        print(f"  {rule}: {text}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from bench.datasets.verify import verify

    spec = get_dataset(args.dataset)
    root = resolve_root(spec, args.root)
    if args.min_frames is not None and args.min_frames < 1:
        raise UserError("--min-frames must be at least 1")
    problems = verify(spec, root, min_frames=args.min_frames, progress=sys.stderr.isatty())
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {root}")
        return 1
    print(f"ok: {root} matches {spec.name}")
    return 0


def _pairs(args: argparse.Namespace) -> int:
    from bench.datasets.sampling import animation_pairs, write_pairs_csv
    from bench.datasets.video_io import list_videos

    if args.n < 1:
        raise UserError("--n must be at least 1")
    spec = get_dataset(args.dataset)
    pairs = animation_pairs(list_videos(resolve_root(spec, args.root), args.split, spec), n=args.n, seed=args.seed)
    if args.out is None:
        write_pairs_csv(pairs, sys.stdout)
        return 0
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as handle:
            write_pairs_csv(pairs, handle)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror}") from None
    print(f"wrote {len(pairs)} pairs to {out}")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from bench.datasets.synthetic import ensure_synthetic

    root = ensure_synthetic(args.root, seed=args.seed, size=args.size)
    print(root)
    return 0


def _detect_params(args: argparse.Namespace) -> object:
    """The --detect mode's crop_vox.py / crop_taichi.py parameters with the given options over its defaults."""
    from bench.datasets.tracking import BodyParams, FaceParams

    defaults = FaceParams() if args.detect == "face" else BodyParams()
    overrides = {name: value for name, value in (("min_frames", args.min_frames), ("min_size", args.min_size),
                                                  ("increase", args.increase), ("max_frames", args.max_frames))
                 if value is not None}
    if args.iou_with_initial is not None:
        if args.detect != "face":
            raise UserError("--iou-with-initial applies to --detect face only")
        overrides["iou_with_initial"] = args.iou_with_initial
    for name in ("min_frames", "max_frames"):
        if overrides.get(name, 1) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    if overrides.get("min_size", 0) < 0 or overrides.get("increase", 0) < 0:
        raise UserError("--min-size and --increase must not be negative")
    return dataclasses.replace(defaults, **overrides)


def _prepare(args: argparse.Namespace) -> int:
    from bench.datasets.prepare import output_shape, prepare

    progress = sys.stderr.isatty()
    output_shape(args.format, args.size)  # a bad --size fails before any detection
    out = Path(args.out)
    metadata = args.metadata
    detect_failed = False
    if args.detect is not None:
        from bench.datasets.detect_crop import detect_metadata

        metadata = metadata or str(out / "metadata.csv")
        found = detect_metadata(args.videos, metadata, args.detect, partition=args.partition,
                                params=_detect_params(args), workers=args.workers, cache_dir=out / ".detect",
                                device=args.device, weights_dir=args.weights_dir, progress=progress,
                                allow_download=args.allow_download)
        print(found.line())
        detect_failed = bool(found.failed)
        if found.chunks == 0:
            print(f"nothing to prepare: no {args.detect} crops detected in {args.videos}")
            return 1
    elif metadata is None:
        raise UserError("--metadata CSV is required (or --detect face|body to make one)")
    elif any(v is not None for v in (args.min_frames, args.min_size, args.increase, args.max_frames,
                                      args.iou_with_initial)) or args.allow_download:
        raise UserError("--min-frames, --min-size, --increase, --max-frames, --iou-with-initial and "
                        "--allow-download go with --detect")
    summary = prepare(metadata, args.videos, out, fmt=args.format, size=args.size, workers=args.workers,
                      progress=progress)
    print(summary.line())
    return 0 if summary.ok and not detect_failed else 1


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_verb(sub, "datasets", "list, verify and prepare datasets", examples=(
        "  bench datasets list\n"
        "  bench datasets verify --dataset taichi --root data/taichi\n"
        "  bench datasets pairs --dataset taichi --root data/taichi --out pairs.csv\n"
        "  bench datasets synth --seed 0\n"
        "  bench datasets prepare --metadata vox-metadata.csv --videos raw/vox --out data/vox --workers 8\n"))
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    verbs = parser.add_subparsers(dest="datasets_verb", metavar="<action>", parser_class=type(parser))
    for add in (_register_list, _register_verify, _register_pairs, _register_synth, _register_prepare):
        add(verbs)


def _register_list(verbs: argparse._SubParsersAction) -> None:
    add_verb(verbs, "list", "the paper's eight benchmarks and synthetic, with their metadata",
             examples="  bench datasets list\n").set_defaults(func=_list)


def _register_verify(verbs: argparse._SubParsersAction) -> None:
    verify = add_verb(verbs, "verify", "check a whole dataset tree and print every problem (exit 1 if any)",
                      examples="  bench datasets verify --dataset vox --root data/vox\n"
                               "  bench datasets verify --dataset mgif --root data/mgif --min-frames 8\n"
                               "  bench datasets verify --dataset synthetic\n")
    _dataset_options(verify)
    verify.add_argument("--min-frames", type=int, default=None,
                        help="shortest acceptable video (default: the dataset's, source + 3 references)")
    verify.set_defaults(func=_verify)


def _register_pairs(verbs: argparse._SubParsersAction) -> None:
    pairs = add_verb(verbs, "pairs", "seeded animation pairs of different identities, in FOMM's CSV format",
                     examples="  bench datasets pairs --dataset taichi --root data/taichi --out pairs.csv\n"
                              "  bench datasets pairs --dataset synthetic --n 20 --seed 1\n")
    _dataset_options(pairs)
    pairs.add_argument("--n", type=int, default=200, help="number of pairs (default 200, as in the paper)")
    pairs.add_argument("--seed", type=int, default=0, help="selection seed (default 0)")
    pairs.add_argument("--split", choices=("test", "train"), default="test", help="split to pair (default test)")
    pairs.add_argument("--out", default=None, help="CSV file to write (default: print)")
    pairs.set_defaults(func=_pairs)


def _register_synth(verbs: argparse._SubParsersAction) -> None:
    synth = add_verb(verbs, "synth", "generate the synthetic dataset (reused when already there) and print its root",
                     examples="  bench datasets synth\n  bench datasets synth --root data/synthetic --seed 3\n")
    synth.add_argument("--root", default=None, help="folder to create (default: the cache, $MOTIONBENCH_CACHE)")
    synth.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    synth.add_argument("--size", type=int, default=64, help="frame size in pixels (default 64)")
    synth.set_defaults(func=_synth)


def _register_prepare(verbs: argparse._SubParsersAction) -> None:
    prepare = add_verb(
        verbs, "prepare",
        "crop raw videos into the FOMM layout from a metadata CSV, as video-preprocessing's load_videos.py "
        "(no download); exit 1 if a source was missing or a chunk failed",
        examples="  bench datasets prepare --metadata taichi-metadata.csv --videos youtube-taichi --out data/taichi\n"
                 "  bench datasets prepare --metadata vox-metadata.csv --videos raw/vox --out data/vox "
                 "--format png --workers 8\n"
                 "  bench datasets prepare --detect face --videos my-videos --out data/myfaces\n"
                 "  bench datasets prepare --detect body --videos my-dance --out data/mydance --device cuda\n")
    prepare.add_argument("--metadata", default=None,
                         help="FOMM metadata CSV (video_id,start,end,bbox,fps,width,height,partition[,person_id]); "
                              "with --detect: the CSV to write (default OUT/metadata.csv)")
    prepare.add_argument("--videos", required=True,
                         help="folder of source videos named <video_id>.mp4 (.mkv/.webm/.mov/.avi also found)")
    prepare.add_argument("--out", required=True, help="dataset root to write (OUT/train, OUT/test)")
    prepare.add_argument("--format", choices=("mp4", "png"), default="mp4",
                         help="mp4 files (libx264 CRF 25, as imageio.mimsave) or lossless png folders (default mp4)")
    prepare.add_argument("--size", default="256", help="frame size N or H,W (default 256)")
    prepare.add_argument("--workers", type=int, default=1, help="parallel processes, one video each (default 1)")
    _detect_options(prepare)
    prepare.set_defaults(func=_prepare)


def _detect_options(prepare: argparse.ArgumentParser) -> None:
    prepare.add_argument("--detect", choices=("face", "body"), default=None,
                         help="no metadata: detect and track faces (dlib, crop_vox.py rules) or persons "
                              "(Keypoint R-CNN, crop_taichi.py rules), write the CSV, then prepare from it")
    prepare.add_argument("--partition", choices=("train", "test"), default="test",
                         help="--detect: partition of every detected chunk (default test)")
    prepare.add_argument("--min-frames", type=int, default=None,
                         help="--detect: shortest track kept (default face 64, body 128)")
    prepare.add_argument("--min-size", type=int, default=None,
                         help="--detect: smallest track box side in pixels (default 256)")
    prepare.add_argument("--increase", type=float, default=None,
                         help="--detect: bbox enlargement (default face 0.1, body 0.05)")
    prepare.add_argument("--max-frames", type=int, default=None, help="--detect: longest track (default 1024)")
    prepare.add_argument("--iou-with-initial", type=float, default=None,
                         help="--detect face: new track below this IoU with the track's first box (default 0.25)")
    prepare.add_argument("--device", default="cpu", help="--detect body: torch device of the person detector")
    prepare.add_argument("--weights-dir", default=None,
                         help="--detect body: folder holding keypointrcnn_resnet50_fpn_coco-fc266e95.pth")
    prepare.add_argument("--allow-download", action="store_true",
                         help="--detect body: download the Keypoint R-CNN COCO weights into torch hub's cache "
                              "when they are not found")


def _dataset_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="dataset name (see: bench datasets list)")
    parser.add_argument("--root", default=None,
                        help="dataset root with train/ and test/ (synthetic: generated when omitted)")
