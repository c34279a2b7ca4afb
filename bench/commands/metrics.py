"""``bench metrics list``: the metrics, their direction, backends and whether weights are present."""
from __future__ import annotations

import argparse

from bench.commands._common import add_verb


def _list(args: argparse.Namespace) -> int:
    from bench.metrics import METRICS
    from bench.metrics.factory import DOMAIN_BACKENDS, weights_status

    rows = [("metric", "better", "domains", "backend", "weights")]
    for name in METRICS.names():
        cls = METRICS.get(name)
        direction = "higher" if cls.higher_is_better else "lower"
        domains = ",".join(cls.domains) if cls.domains else "all"
        status = weights_status(name, args.weights_dir)
        if not status:
            rows.append((name, direction, domains, "-", "none needed"))
            continue
        shown = (name, direction, domains)
        for backend, files in status.items():
            where = [d + (" default" if names[0] == backend else "")
                     for d, names in DOMAIN_BACKENDS.get(name, {}).items() if backend in names]
            label = backend + (f" ({', '.join(where)})" if where else "")
            missing = [filename for filename, path in files if path is None]
            rows.append((*shown, label, "MISSING " + ", ".join(missing) if missing else "present"))
            shown = ("", "", "")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
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
