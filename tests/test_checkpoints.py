"""The checkpoint format: atomic save, safe load, RNG round trip and clear mismatch errors."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from bench.checkpoints import (capture_rng, check_compatible, config_hash, load_checkpoint, meta_of, restore_rng,
                               save_checkpoint)
from bench.errors import UserError
from bench.methods import build_method
from tests.tiny_method import NAME, build_tiny


def _save_tiny(path, config=None, **extra):
    model = build_tiny(config)
    save_checkpoint(path, method=NAME, config=config or {}, model=model.state_dict(), epoch=3, step=30,
                    rng=capture_rng(), train_dataset="synthetic", **extra)
    return model


def test_config_hash_ignores_key_order_and_int_float_spelling():
    assert config_hash({"a": 1, "b": {"c": [1.0, 2]}}) == config_hash({"b": {"c": [1, 2.0]}, "a": 1.0})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    assert config_hash(None) == config_hash({})
    assert len(config_hash({})) == 64


def test_round_trip_with_weights_only_load(tmp_path):
    path = tmp_path / "ckpt.pt"
    model = _save_tiny(path, {"channels": 4})
    data = load_checkpoint(path)  # weights_only=True: the RNG states must be plain types
    assert data["format"] == "motionbench" and data["method"] == NAME and data["epoch"] == 3
    assert data["config_hash"] == config_hash({"channels": 4})
    loaded = build_method(NAME, checkpoint=path)
    assert meta_of(data)["train_dataset"] == "synthetic" and "model" not in meta_of(data)
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)
    assert not loaded.training
    assert not list(tmp_path.glob(".*tmp")), "temporary file left behind"


def test_rng_states_restore_exactly():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = capture_rng()
    first = (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist(), np.random.randn())
    restore_rng(state)
    second = (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist(), np.random.randn())
    assert first == second


def test_other_method_or_config_is_a_clear_error(tmp_path):
    path = tmp_path / "ckpt.pt"
    _save_tiny(path, {"channels": 4})
    digest = config_hash({"channels": 4})[:8]
    with pytest.raises(UserError, match=rf"is for method '{NAME}' \(config {digest}\), not 'sadm'"):
        check_compatible(load_checkpoint(path), expected_method="sadm")
    with pytest.raises(UserError, match="not the requested config"):
        check_compatible(load_checkpoint(path), expected_method=NAME, expected_config_hash=config_hash({"channels": 5}))
    with pytest.raises(UserError, match=f"is for method '{NAME}', not 'sadm'"):
        build_method("sadm", checkpoint=path)
    with pytest.raises(UserError) as exc:
        check_compatible(load_checkpoint(path), expected_method="fomm")
    assert "\n" not in str(exc.value)


def test_weights_that_do_not_fit_the_config_are_a_user_error(tmp_path):
    path = tmp_path / "ckpt.pt"
    model = build_tiny({"channels": 4})
    save_checkpoint(path, method=NAME, config={"channels": 6}, model=model.state_dict())
    with pytest.raises(UserError, match=r"does not fit method '.*' with this config: .*of another shape, e\.g\."):
        build_method(checkpoint=path)


def test_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a zip file at all")
    with pytest.raises(UserError, match="cannot read checkpoint"):
        load_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(UserError, match="not a motionbench checkpoint"):
        load_checkpoint(foreign)
    newer = tmp_path / "newer.pt"
    torch.save({"format": "motionbench", "version": 99, "method": NAME, "config": {}, "model": {}}, newer)
    with pytest.raises(UserError, match="format version 99"):
        load_checkpoint(newer)


def test_save_requires_the_core_fields(tmp_path):
    with pytest.raises(ValueError, match="model"):
        save_checkpoint(tmp_path / "x.pt", method=NAME, config={})


def test_interrupted_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    _save_tiny(path)
    before = path.read_bytes()

    def failing_save(obj, f, *a, **k):
        with open(f, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(UserError, match=f"cannot write {path}: disk full"):
        _save_tiny(path)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".*"))  # the partial temporary file is gone
