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
import os
from pathlib import Path

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
    """``noise_floors.json``'s entry for fixture ``name`` (its key is ``<folder>/<name>.pt``; {} when absent)."""
    path = FIXTURES / "noise_floors.json"
    if not path.is_file():
        return {}
    floors = json.loads(path.read_text())
    return next((value for key, value in floors.items() if key.rsplit("/", 1)[-1] == f"{name}.pt"), {})


def value_atol(floor: float) -> float:
    """The fixture README's tolerance for values from a measured noise floor: ``max(1e-4, 10 x floor)``."""
    return max(1e-4, 10 * floor)
