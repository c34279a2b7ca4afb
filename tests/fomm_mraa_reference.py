"""Helpers for the FOMM / MRAA tests against ../shared/reference (specs and official-code fixtures)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from bench.methods import build_method

SPECS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "checkpoint-specs"


def spec_names(method: str) -> list[str]:
    """Spec file stems of ``method`` (empty when ../shared is absent; the tests then skip)."""
    return sorted(p.stem for p in SPECS.glob(f"{method}-*.json")) if SPECS.is_dir() else []


def load_spec(shared_dir: Path, stem: str) -> dict[str, Any]:
    return json.loads((shared_dir / "reference" / "checkpoint-specs" / f"{stem}.json").read_text())


def load_fixture(shared_dir: Path, name: str) -> dict[str, Any]:
    # the fixtures are trusted project material written by the official code (plain dicts of tensors)
    return torch.load(shared_dir / "reference" / "fixtures" / f"{name}.pt", weights_only=False)


def state_shapes_on_meta(method: str, model_params: dict[str, Any]) -> dict[str, dict[str, list[int]]]:
    """Per sub-network ``{key: shape}`` of the method built from ``model_params`` (no weights allocated)."""
    with torch.device("meta"):
        model = build_method(method, model_params)
    return {name: {k: list(v.shape) for k, v in net.state_dict().items()} for name, net in model.networks().items()}


def max_errors(got: Any, expected: Any, prefix: str = "") -> dict[str, float]:
    """Max absolute difference of every tensor in ``expected`` (nested dicts) against ``got``."""
    if isinstance(expected, dict):
        out: dict[str, float] = {}
        for key, value in expected.items():
            out.update(max_errors(got[key], value, f"{prefix}{key}."))
        return out
    assert got.shape == expected.shape, f"{prefix[:-1]}: shape {tuple(got.shape)} != {tuple(expected.shape)}"
    return {prefix[:-1]: (got.detach().float().cpu() - expected.float()).abs().max().item()}
