"""The ``make_official_*.py`` scripts of ``tests/fixtures`` regenerate the shipped official-code fixtures of
``../shared/reference/fixtures``: inputs and random draws bit for bit, every other tensor within the fixture
README's tolerance of its output category (``tests.reference.tolerance``; gradients: ``||g - g_ref|| / ||g_ref||``
per network), since the official code's float rounding depends on the CPU that runs it.

Slow (about three minutes), and only where the official repositories are checked out: ``FOMM_DIR``, ``MRAA_DIR``
and ``TPSMM_DIR`` name folders holding the ``*.py`` files of first-order-model c027484, articulated-animation
03f1968 and Thin-Plate-Spline-Motion-Model c616878 (the scripts' headers say how to make them).
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.reference import FIXTURES, category, tolerance

SCRIPTS = Path(__file__).resolve().parent / "fixtures"
#: fixture -> (script, its arguments after OUT, the official checkouts it needs)
CASES = {
    "fomm-face": ("make_official_fomm_mraa_forward.py", ["fomm-face"], ["FOMM_DIR"]),
    "mraa-body": ("make_official_fomm_mraa_forward.py", ["mraa-body"], ["MRAA_DIR"]),
    "fomm-animation-face": ("make_official_fomm_animation.py", [], ["FOMM_DIR"]),
    "mraa-avd-face": ("make_official_mraa_avd.py", ["shared"], ["MRAA_DIR"]),
    "fomm-losses-face": ("make_official_training_losses.py", ["fomm-losses-face"], ["FOMM_DIR"]),
    "fomm-losses-gan-body": ("make_official_training_losses.py", ["fomm-losses-gan-body"], ["FOMM_DIR"]),
    "mraa-losses-body": ("make_official_training_losses.py", ["mraa-losses-body"], ["MRAA_DIR"]),
    "tpsmm-face": ("make_official_tpsmm_forward.py", ["shared", "tpsmm-face"], ["TPSMM_DIR"]),
    "tpsmm-body": ("make_official_tpsmm_forward.py", ["shared", "tpsmm-body"], ["TPSMM_DIR"]),
}
GRADIENT_PARTS = ("grads", "grads_sampled", "grad_norms")
LOCAL_ONLY = "discriminator_calls/"  # outputs without a shipped noise floor

pytestmark = pytest.mark.slow


@functools.cache
def compare_module():
    """``tests/fixtures/compare_fixtures.py`` (not a package module), loaded once."""
    spec = importlib.util.spec_from_file_location("compare_fixtures", SCRIPTS / "compare_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def regenerate(name: str, out: Path) -> dict:
    script, args, needs = CASES[name]
    missing = [var for var in needs if not os.environ.get(var)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not set: the official repositories are not checked out here")
    if not (FIXTURES / f"{name}.pt").is_file() or FIXTURES != compare_module().SHIPPED:
        pytest.skip(f"the shipped fixture {name}.pt of ../shared/reference/fixtures is not here")
    subprocess.run([sys.executable, str(SCRIPTS / script), str(out), *args], check=True, capture_output=True)
    return torch.load(out / f"{name}.pt", weights_only=False)


def allowed(out: Path, name: str, key: str) -> float:
    """The README's tolerance for ``key`` (a compared path, or ``grads``) from the shipped floors, with the floors
    that the script measured on this machine (its ``noise_floors.json``: the official code against itself,
    ``channels_last`` inputs) by the same rule for the discriminator's outputs, which the shipped table lacks, and
    for gradients, where this CPU's own noise can exceed the shipped CPU's (``mraa-losses-body.pt``)."""
    path = out / "noise_floors.json"
    local = json.loads(path.read_text()).get(f"shared/{name}.pt", {}) if path.is_file() else {}
    if key == "grads":
        return max(tolerance(name, "grads"), tolerance(local, "grads"))
    if key.startswith(f"outputs/{LOCAL_ONLY}"):
        return tolerance({k: v for k, v in local.items() if k.startswith(LOCAL_ONLY)}, category(key))
    return tolerance(name, category(key))


def gradient_errors(new: dict, shipped: dict) -> dict[str, float]:
    """``||g - g_ref|| / ||g_ref||`` per network over the stored gradient entries (full and sampled)."""
    found = {}

    def walk(a, b, path):
        if isinstance(b, dict) and "grads" in b and "grads_sampled" in b:
            nets = b["grads"] if all(isinstance(v, dict) for v in b["grads"].values()) else {"": b["grads"]}
            for net, full in nets.items():
                pairs = [((a["grads"][net] if net else a["grads"])[k], v) for k, v in full.items()]
                sampled = b["grads_sampled"].get(net, {}).items()
                pairs += [(a["grads_sampled"][net][k]["values"], e["values"]) for k, e in sampled]
                diff = sum(((x.double() - y.double()) ** 2).sum() for x, y in pairs) ** 0.5
                found[f"{path}{net}"] = float(diff / sum((y.double() ** 2).sum() for _, y in pairs) ** 0.5)
        if isinstance(b, dict):  # also below a step's gradients (the GAN file's discriminator_step)
            for key, value in b.items():
                if key not in GRADIENT_PARTS:
                    walk(a[key], value, f"{path}{key}/")

    walk(new["outputs"], shipped["outputs"], "outputs/")
    return found


@pytest.mark.parametrize("name", list(CASES))
def test_regenerated_fixture_matches_the_shipped_one(name, tmp_path):
    new = regenerate(name, tmp_path)
    shipped = torch.load(FIXTURES / f"{name}.pt", weights_only=False)
    result = compare_module().compare(new, shipped)
    assert not result["problems"], result["problems"][:5]
    exact = [k for k in result["max_abs"] if k.startswith(("inputs/", "random/"))]
    assert not exact, f"not bit for bit: {exact[:5]}"
    values = {k: v for k, v in result["max_abs"].items() if not set(k.split("/")) & set(GRADIENT_PARTS)}
    over = {k: v for k, v in values.items() if v > allowed(tmp_path, name, k)}
    assert not over, f"over the README's tolerance: {over}"
    grads = gradient_errors(new, shipped)
    assert all(v <= allowed(tmp_path, name, "grads") for v in grads.values()), grads
