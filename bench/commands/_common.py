"""Argument helpers shared by several verbs."""
from __future__ import annotations

import argparse


def add_verb(sub: argparse._SubParsersAction, name: str, help: str, examples: str, description: str = "") -> argparse.ArgumentParser:
    """Add a verb whose --help ends with examples."""
    return sub.add_parser(
        name,
        help=help,
        description=description or help,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.num_epochs=2 (repeatable)")
