"""motionbench: train, run and compare image-animation methods under one protocol.

The plugin packages live in top-level folders of the checkout (``methods/``,
``metrics/``, ``datasets/``, ``reports/``, ``configs/``) and are installed as
``bench.methods`` and friends. When the code runs straight from a checkout
(``python -m bench`` or ``python -m pytest`` without installing), the checkout
root is added to this package's search path so that those folders resolve as
sub-packages too.
"""
from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "methods" / "__init__.py").is_file() and not (Path(__file__).parent / "methods").exists():
    __path__.append(str(_checkout))  # type: ignore[name-defined]  # noqa: F821
