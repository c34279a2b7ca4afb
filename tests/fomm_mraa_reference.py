"""Helpers for the FOMM / MRAA tests against the reference material (specs and official-code fixtures under
``tests.reference.REFERENCE``: ../shared/reference, or the folder MOTIONBENCH_REFERENCE names)."""
from __future__ import annotations

import importlib.util
import json
from types import ModuleType
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from bench.methods import build_method
from bench.methods.losses import Vgg19Features
from tests.reference import FIXTURES, SPECS, category, noise_floor, tolerance


def spec_names(method: str) -> list[str]:
    """Spec file stems of ``method`` (empty when ../shared is absent; the tests then skip)."""
    return sorted(p.stem for p in SPECS.glob(f"{method}-*.json")) if SPECS.is_dir() else []


def load_spec(stem: str) -> dict[str, Any]:
    return json.loads((SPECS / f"{stem}.json").read_text())


def load_fixture(name: str) -> dict[str, Any]:
    # the fixtures are trusted project material written by the official code (plain dicts of tensors)
    return torch.load(FIXTURES / f"{name}.pt", weights_only=False)


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


def fixture_weights() -> ModuleType:
    """``fixtures/fixture_weights.py`` (materialises the weight recipes, e.g. the perceptual VGG-19)."""
    spec = importlib.util.spec_from_file_location("fixture_weights", FIXTURES / "fixture_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_vgg19_trunk(vgg: Vgg19Features, state: Mapping[str, torch.Tensor]) -> None:
    """Load ``torchvision vgg19().features`` weights (keys ``0.weight`` ... ``28.bias``) into our slices,
    which keep the trunk's layer indices."""
    for block in vgg.slices:
        block.load_state_dict({key: state[key] for key in block.state_dict()})


def load_networks(model: nn.Module, state_dicts: Mapping[str, Mapping[str, torch.Tensor]]) -> None:
    """Load each sub-network a fixture stores (strictly) into the attribute of the same name."""
    for name, state in state_dicts.items():
        getattr(model, name).load_state_dict(state)


def official_losses(train_params: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """Our ``losses`` section for an official ``train_params`` (scales, transform and loss weights)."""
    weights = dict(train_params["loss_weights"])
    return {"scales": train_params["scales"], "transform_params": train_params["transform_params"], **weights,
            "pretrained_vgg": False, **extra}


def assert_within_tolerance(fixture: str | Mapping[str, float], errors: dict[str, float], label: str = "") -> None:
    """Every max |diff| of ``errors`` (keys like ``kp_source.value``) within the fixture README's tolerance of
    its output category (:func:`tests.reference.tolerance`): ``fixture`` is a shared fixture's name or the floors
    table a fixture records itself (``label`` names it in the message)."""
    over = {k: v for k, v in errors.items() if v > tolerance(fixture, category(k.replace(".", "/")))}
    assert not over, f"{label or fixture}: over tolerance: {over}"


def buffer_atol(name: str, key: str, strict: float = 1e-5) -> float:
    """``strict`` for BatchNorm / spectral-norm buffers where the official code's own noise allows it, else
    10 x its floor."""
    return max(strict, 10 * noise_floor(name, key))


def loss_atol(name: str, term: str) -> float:
    """1e-5 for a loss term where the official code's own noise allows it, else the README's
    suggestion ``max(1e-4, 10 x floor)``."""
    floor = max(noise_floor(name, f"loss/{term}"), noise_floor(name, term))  # loss/<term>, loss_total_generator
    return 1e-5 if floor <= 1e-5 / 3 else max(1e-4, 10 * floor)


def relative_grad_error(params: Iterable[tuple[str, nn.Parameter]], full: Mapping[str, torch.Tensor],
                        sampled: Mapping[str, Mapping[str, Any]] | None = None) -> float:
    """``||g - g_ref|| / ||g_ref||`` of one network over every stored gradient entry (whole tensors in
    ``full``, the ``index`` / ``values`` samples of ``sampled``)."""
    grads = {name: p.grad for name, p in params}
    missing = (set(full) | set(sampled or {})) - {k for k, g in grads.items() if g is not None}
    assert not missing, f"no gradient for {sorted(missing)[:3]}"
    pairs = [(grads[k].flatten(), v.flatten()) for k, v in full.items()]
    pairs += [(grads[k].flatten()[e["index"]], e["values"]) for k, e in (sampled or {}).items()]
    diff = sum(((a.double() - b.double()) ** 2).sum() for a, b in pairs) ** 0.5
    norm = sum((b.double() ** 2).sum() for _, b in pairs) ** 0.5
    return float(diff / norm)
