"""Plant a regression for the CI gate: ``python -m tests.plant_regression DEMO_OUT [METHOD] [FACTOR]``.

Re-evaluates METHOD (default mraa) of a finished ``bench demo --quick`` in DEMO_OUT, with the same
settings and checkpoint, into the same tracking store, but with every generated frame made FACTOR
(default 1.05, i.e. 5%) worse: each pixel's error against its driving frame is scaled by FACTOR
(``driving + FACTOR * (generated - driving)``, then clamped as every output is). ``.ci/run`` runs
it after the gate passed and requires ``bench check`` to fail on the result.
"""
from __future__ import annotations

import sys
from pathlib import Path

from bench.commands.demo import QUICK, evaluate
from bench.runner.evaluate import ItemEvaluator


def worsened(generate, factor: float):
    """``ItemEvaluator._generate`` with each pixel's error scaled by ``factor``."""
    def generate_worse(self, source, driving, initial, refs):
        frames = generate(self, source, driving, initial, refs)
        target = driving.to(frames)
        return target + factor * (frames - target)
    return generate_worse


def main(argv: list[str]) -> int:
    demo, method = Path(argv[0]), argv[1] if len(argv) > 1 else "mraa"
    factor = float(argv[2]) if len(argv) > 2 else 1.05
    checkpoint = QUICK.folder(demo, "train", method) / "checkpoints" / "last.pt"
    if not checkpoint.is_file():
        print(f"no checkpoint of {method} in {demo}: run bench demo --quick --out {demo} first", file=sys.stderr)
        return 2
    ItemEvaluator._generate = worsened(ItemEvaluator._generate, factor)
    run_ids = evaluate(method, checkpoint, demo / "planted", QUICK, device="cpu")
    print(f"planted: {method} re-evaluated with frames {factor - 1:.0%} worse (runs {', '.join(run_ids)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
