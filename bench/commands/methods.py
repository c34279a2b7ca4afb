"""``bench methods list``: the registered methods, their size for a dataset preset, and their switches."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from bench.commands._common import add_verb
from bench.errors import UserError


def _describe(method: Any) -> str:
    """First line of the method class's docstring (else of its module's)."""
    cls = type(method)
    doc = (cls.__doc__ or sys.modules[cls.__module__].__doc__ or "").strip()
    return doc.splitlines()[0].rstrip(".") if doc else "-"


def _lookup(config: Any, dotted: str) -> Any:
    value = config
    for part in dotted.split("."):
        value = getattr(value, part) if dataclasses.is_dataclass(value) else value[part]
    return value


def _toggles(method: Any, params: dict[str, Any]) -> str:
    """The method's declared switches with their values (else the top-level scalar options)."""
    declared = getattr(type(method), "toggles", None)
    config = getattr(method, "config", None)
    if declared and config is not None:
        return ", ".join(f"{key}={_lookup(config, key)}" for key in declared)
    scalars = [f"{k}={v}" for k, v in params.items() if isinstance(v, (bool, int, float, str))]
    return ", ".join(scalars) or "-"


def _build(name: str, params: dict[str, Any] | None) -> Any:
    """Build without allocating weights where possible (meta device), for counting parameters."""
    import torch

    from bench.methods import build_method

    try:
        with torch.device("meta"):
            return build_method(name, params)
    except (NotImplementedError, RuntimeError):
        return build_method(name, params)


def _list(args: argparse.Namespace) -> int:
    from bench.datasets import get_dataset
    from bench.methods import METHODS
    from bench.methods.presets import load_model_params, preset_datasets

    get_dataset(args.dataset)  # an unknown dataset is an error, not a table of "no preset"
    rows = [("name", f"params ({args.dataset})", "description")]
    toggles: dict[str, str] = {}
    for name in METHODS.names():
        presets = preset_datasets(name)
        if presets and args.dataset not in presets:
            rows.append((name, "no preset", f"presets: {', '.join(presets)}"))
            continue
        params = load_model_params(name, args.dataset) if presets else None
        try:
            method = _build(name, params)
        except UserError as exc:
            rows.append((name, "invalid", str(exc)))
            continue
        rows.append((name, f"{method.num_parameters():,}", _describe(method)))
        toggles[name] = _toggles(method, params or {})
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for row in rows:
        print(f"{row[0].ljust(widths[0])}  {row[1].rjust(widths[1])}  {row[2]}")
        if toggles.get(row[0], "-") != "-":
            print(f"{'':{widths[0]}}  {'':{widths[1]}}  toggles: {toggles[row[0]]}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_verb(sub, "methods", "list the animation methods", examples=(
        "  bench methods list\n"
        "  bench methods list --dataset taichi\n"))
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    verbs = parser.add_subparsers(dest="methods_verb", metavar="<action>", parser_class=type(parser))
    listing = add_verb(verbs, "list", "name, description, parameter count for a dataset preset, and switches",
                       examples="  bench methods list\n  bench methods list --dataset mgif\n")
    listing.add_argument("--dataset", default="vox",
                         help="preset whose configuration is counted (configs/methods/<method>/<dataset>.yaml; "
                              "default vox)")
    listing.set_defaults(func=_list)
