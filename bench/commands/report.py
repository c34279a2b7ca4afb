"""``bench report``: the tracked runs as a table, the paper's Tables 1-4, the figures and the HTML page."""
from __future__ import annotations

import argparse
import sys

from bench.commands._common import add_verb
from bench.errors import UserError

TABLE_VERBS = ("table1", "generality", "ablation", "nviews")

EXAMPLES = """  bench report runs --format markdown                    # every complete evaluation run
  bench report table1                                    # Table 1 from your runs, Markdown on stdout
  bench report table1 --out reports/ --reported --png    # .tex/.md/.csv + PDF/PNG, with the paper's rows
  bench report nviews --reported-only --format md        # the paper's Table 4 alone
  bench report figures --out reports/figures             # N sweep, ablation bars, per-video distributions
  bench report table1 --ci                               # each measured value with its 95% interval
  bench report compare --dataset synthetic               # paired differences and probabilities of improvement
  bench report html --out reports/html                   # one page: tables, figures, every method's videos
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_verb(sub, "report", "tables (LaTeX/Markdown/CSV), figures and an HTML page from tracked runs",
                      EXAMPLES,
                      "Read the complete evaluation runs of the MLflow store (MLFLOW_TRACKING_URI or ./mlflow.db) "
                      "and render the paper's tables or figures. Rows from configs/published are labelled "
                      "'(reported)' and never ranked against measured rows.")
    parser.add_argument("what", choices=("runs", *TABLE_VERBS, "compare", "figures", "html"),
                        help="what to report (compare: every pair of methods of Table 1's runs on the same videos; "
                        "html: OUT/index.html with the tables, the figures and the runs' saved videos of every "
                        "method side by side)")
    parser.add_argument("--out", metavar="DIR", help="write files here (tables: <name>.tex/.md/.csv); "
                        "without it a table is printed")
    parser.add_argument("--format", default=None,
                        help="runs: markdown (compact, default) or csv (every tag, metric and N/A reason); tables: comma list of tex,md,csv "
                        "(default all with --out, md on stdout)")
    parser.add_argument("--reported", action="store_true", help="add the paper's published rows, labelled reported")
    parser.add_argument("--reported-only", action="store_true", help="render the paper's published rows alone")
    parser.add_argument("--png", action="store_true", help="compile the .tex with pdflatex and rasterise it (needs --out)")
    parser.add_argument("--ci", action="store_true", help="tables: show each measured value's 95%% interval")
    parser.add_argument("--random-init", action="store_true",
                        help="include runs of untrained models (bench run --random-init), left out by default")
    parser.add_argument("--dataset", help="compare: only this dataset")
    parser.set_defaults(func=run)


def _runs(args: argparse.Namespace) -> int:
    from bench.reports.render import frame_to_markdown
    from bench.reports.runs import compact_view, load_runs

    frame = load_runs(random_init=args.random_init)
    fmt = args.format or "markdown"
    if fmt not in ("csv", "markdown"):
        raise UserError(f"--format for runs is csv or markdown, got '{fmt}'")
    if frame.empty:
        sys.stderr.write("no complete evaluation runs in the tracking store\n")
        return 0
    if fmt == "csv":
        text = frame.drop(columns=["kind", "status", "origin"]).dropna(axis=1, how="all").to_csv(index=False)
    else:
        text = frame_to_markdown(compact_view(frame))
    if args.out:
        from pathlib import Path

        path = Path(args.out) / ("runs.csv" if fmt == "csv" else "runs.md")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(path)
    else:
        sys.stdout.write(text)
    return 0


def _table(args: argparse.Namespace) -> int:
    from bench.reports.outputs import make_table, write_table
    from bench.reports.render import RENDERERS

    table = make_table(args.what, measured=None if args.reported_only else _measured(args), reported=args.reported,
                       reported_only=args.reported_only, intervals=args.ci)
    if args.out:
        formats = args.format.split(",") if args.format else list(RENDERERS)
        for path in write_table(table, args.out, [f.strip() for f in formats if f.strip()], png=args.png):
            print(path)
        return 0
    if args.png:
        raise UserError("--png needs --out DIR")
    fmt = args.format or "md"
    if fmt not in RENDERERS:
        raise UserError(f"--format for a printed table is one of {', '.join(RENDERERS)}, got '{fmt}'")
    sys.stdout.write(RENDERERS[fmt](table))
    return 0


def _figures(args: argparse.Namespace) -> int:
    from bench.reports.outputs import write_figures

    if not args.out:
        raise UserError("bench report figures needs --out DIR")
    paths = write_figures(args.out, measured=_measured(args), reported=args.reported)
    if not paths:
        sys.stderr.write("no runs to draw (no N sweep, ablation or per-video results in the tracking store)\n")
    for path in paths:
        print(path)
    return 0


def _html(args: argparse.Namespace) -> int:
    from bench.reports.html import write_html_report

    if not args.out:
        raise UserError("bench report html needs --out DIR")
    for flag, given in (("--reported-only", args.reported_only), ("--format", args.format), ("--png", args.png)):
        if given:
            raise UserError(f"{flag} does not apply to bench report html (it reports the measured runs)")
    print(write_html_report(args.out, measured=_measured(args), reported=args.reported))
    return 0


def _measured(args: argparse.Namespace):
    from bench.reports.runs import load_runs

    return load_runs(random_init=args.random_init)


def _compare(args: argparse.Namespace) -> int:
    from bench.reports.pairs import pairwise
    from bench.reports.render import frame_to_markdown

    frame = pairwise(_measured(args), args.dataset)
    if frame.empty:
        raise UserError("no two methods evaluated on the same videos with per-video values to compare "
                        "(Table 1's runs of one dataset and task)")
    text = frame.to_csv(index=False) if args.format == "csv" else frame_to_markdown(frame)
    sys.stdout.write(text)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.reported and args.reported_only:
        raise UserError("--reported and --reported-only exclude each other")
    if args.what == "html":
        return _html(args)
    if args.what == "runs":
        return _runs(args)
    if args.what == "figures":
        return _figures(args)
    if args.what == "compare":
        return _compare(args)
    return _table(args)
