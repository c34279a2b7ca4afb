"""The ``bench`` command line: a thin layer over the library.

Each verb lives in its own module under ``bench/commands/`` and exposes
``register(subparsers)``; this module discovers them, parses arguments and turns
user errors into one line on stderr with exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import bench.commands
from bench.errors import UserError, expected_failure
from bench.utils import keep_freed_memory

EPILOG = """examples:
  bench demo                                   # train tiny models on synthetic data, evaluate, write tables
  bench datasets list                          # the eight benchmarks and synthetic, with their metadata
  bench run --method sadm --dataset nemo --root data/nemo
  bench <verb> --help                          # options and examples of one verb
"""


class OneLineErrorParser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are a single line (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="bench",
        description="motionbench: train, run and compare image-animation methods under one protocol, "
        "track runs in MLflow and render the paper's tables.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"motionbench {bench.__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="<verb>", parser_class=OneLineErrorParser)
    for info in sorted(pkgutil.iter_modules(bench.commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()  # before the first large allocation: a process-wide allocator setting
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2 if args.verb is None else 0
    try:
        return int(args.func(args) or 0)
    except (UserError, OSError) as exc:  # one line, exit 2; anything else is a bug and keeps its traceback
        sys.stderr.write(f"bench: error: {expected_failure(exc)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("bench: interrupted\n")
        return 130
