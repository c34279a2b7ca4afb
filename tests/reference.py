"""Where the fidelity tests find the official-code reference material.

``REFERENCE`` is ``../shared/reference``, or the folder the environment variable ``MOTIONBENCH_REFERENCE``
names: a folder of the same layout (``fixtures/``, ``pose-evaluation/``, ``checkpoint-specs/``), e.g. fixtures
made by the same official code with other seeds, sizes and cases. The tests read every case list, seed, count,
expected value and tolerance from the files there, so they hold for any such folder.

``LOCAL_POSE_EVALUATION`` holds pose-evaluation cases of other frame shapes and inputs, made with the official
code by ``tests/fixtures/make_official_frames2array.py`` and ``make_official_cmp_cases.py``; the
``frames2array`` and ``cmp*.py`` tests run on both folders.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Mapping

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("MOTIONBENCH_REFERENCE") or REPO.parent / "shared" / "reference").resolve()
FIXTURES = REFERENCE / "fixtures"
SPECS = REFERENCE / "checkpoint-specs"
POSE_EVALUATION = REFERENCE / "pose-evaluation"
LOCAL_POSE_EVALUATION = REPO / "tests" / "fixtures" / "pose-evaluation"


def pose_evaluation_folders(file_name: str) -> list[Path]:
    """The pose-evaluation fixture folders that hold ``file_name`` (the shared one when present, the local one)."""
    return [folder for folder in (POSE_EVALUATION, LOCAL_POSE_EVALUATION) if (folder / file_name).is_file()]


def noise_floors(name: str) -> dict[str, float]:
    """``noise_floors.json``'s entry for fixture ``name`` (its key is ``<folder>/<name>.pt``; {} when absent).

    Each value is the max |diff| of the official code against itself under another float rounding: image inputs
    in ``channels_last`` format (every fixture), and, where a fixture records it, under ``float64/<output>``, the
    official float32 outputs against the same official code run in float64."""
    path = FIXTURES / "noise_floors.json"
    if not path.is_file():
        return {}
    floors = json.loads(path.read_text())
    return next((value for key, value in floors.items() if key.rsplit("/", 1)[-1] == f"{name}.pt"), {})


def noise_floor(name: str, key: str) -> float:
    """The floor of one output: ``key`` or a recorded key ending in ``/key`` (0 when not measured)."""
    floors = noise_floors(name)
    return max((v for k, v in floors.items() if k == key or k.endswith("/" + key)), default=0.0)


#: the output categories of the fixture README's tolerance table, by the last part of a noise-floor key
IMAGE_OUTPUTS = ("prediction", "deformed", "sparse_deformed", "deformed_source", "warped_encoder_maps")


def category(key: str) -> str:
    """``grads``, ``losses``, ``images`` or ``values`` (keypoints, region / background parameters, Jacobians,
    flows, masks, occlusion maps, heatmaps, buffers) of a noise-floor key."""
    if key.startswith(("grads/", "float64/grads/")):
        return "grads"
    parts = key.split("/")
    if "loss" in parts or any(p.startswith("loss") for p in parts):
        return "losses"
    return "images" if any(p.split("=")[0] in IMAGE_OUTPUTS or p.startswith("prediction") for p in parts) \
        else "values"


def round_up_125(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that is >= ``value`` (the README's "rounded up")."""
    exponent = math.floor(math.log10(value))
    return next(m * 10.0 ** e for e in (exponent, exponent + 1) for m in (1, 2, 5) if m * 10.0 ** e >= value * (1 - 1e-12))


def tolerance(fixture: str | Mapping[str, float], kind: str) -> float:
    """The fixture README's suggested tolerance for one output category: ``max(1e-4, 10 x floor)`` for values,
    images and losses, ``max(0.02, 3 x floor)`` for the relative L2 error of a network's gradient, with ``floor``
    the largest recorded floor of that category, rounded up (1, 2, 5). ``fixture``: a shared fixture's name (its
    ``noise_floors.json`` entry; this reproduces the README's per-fixture table) or the floors table that a
    fixture records itself (e.g. ``official-tpsmm-losses.pt``'s ``floors[case]``)."""
    floors = noise_floors(fixture) if isinstance(fixture, str) else fixture
    floor = max((v for k, v in floors.items() if category(k) == kind and "max|diff|" not in k), default=0.0)
    return round_up_125(max(0.02, 3 * floor) if kind == "grads" else max(1e-4, 10 * floor))
