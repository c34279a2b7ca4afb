"""``bench metrics list``: the metrics, their direction, backends and whether weights are present."""
from __future__ import annotations

import argparse

from bench.commands._common import add_verb


def _tasks(info) -> str:
    """``reconstruction (vs driving frames), animation (vs source image, optional)``."""
    from bench.metrics.base import TARGETS

    return ", ".join(f"{task} (vs {TARGETS[use.target]}{'' if use.default else ', on request'})"
                     for task, use in info.tasks.items()) or "-"


def _list(args: argparse.Namespace) -> int:
    from bench.metrics import METRICS
    from bench.metrics.factory import weights_status

    rows = [("metric", "label", "better", "tasks", "domains", "backend", "weights")]
    references = []
    for name in METRICS.ordered():
        info = METRICS.get(name).info
        label = info.label + (f" ({info.unit})" if info.unit else "")
        shown = (name, label, info.direction, _tasks(info), ",".join(info.domains) if info.domains else "all")
        references.append(f"  {name}: {info.reference or '-'}")
        status = weights_status(name, args.weights_dir)
        if not info.backends:
            rows.append((*shown, "-", "none needed"))
            continue
        for backend in info.backends:
            defaults = [d for d in (backend.domains or ("all",))
                        if info.default_backend(None if d == "all" else d) is backend]
            text = backend.name + (f" (default: {', '.join(defaults)})" if defaults and len(info.backends) > 1 else "")
            missing = [f"{filename} (put it in {folder or '--weights-dir'})"
                       for filename, path, folder in status.get(backend.name, []) if path is None]
            weights = "MISSING " + ", ".join(missing) if missing else ("present" if backend.weights else "none needed")
            rows.append((*shown, text, weights))
            shown = ("",) * len(shown)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print("\nreference implementations:\n" + "\n".join(references))
    print("\nweights are looked up in --weights-dir, the torch hub cache, ~/.insightface/models and the "
          "face_recognition_models package; pass --weights-dir to check another folder")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_verb(sub, "metrics", "list the metrics and whether their weights are present",
                      examples="  bench metrics list\n  bench metrics list --weights-dir ~/weights\n")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    verbs = parser.add_subparsers(dest="metrics_verb", metavar="<action>", parser_class=type(parser))
    listing = add_verb(verbs, "list", "each metric, its direction (lower/higher is better), backends and weights",
                       examples="  bench metrics list\n  bench metrics list --weights-dir ~/weights\n")
    listing.add_argument("--weights-dir", metavar="DIR", help="also look for weight files here")
    listing.set_defaults(func=_list)
