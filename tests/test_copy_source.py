"""The copy-source baseline: the source frame, untouched, with no parameters."""
from __future__ import annotations

import pytest
import torch

from bench.errors import ConfigError
from bench.methods import build_method


def test_copy_source_returns_the_source_exactly_and_has_no_parameters():
    model = build_method("copy-source")
    assert model.name == "copy-source" and model.num_parameters() == 0 and not model.trainable()
    source, driving, initial = torch.rand(3, 2, 3, 16, 16).unbind(0)
    refs = torch.rand(2, 4, 3, 16, 16)
    out = model.generate(source, driving, refs)
    assert torch.equal(out, source) and out.data_ptr() != source.data_ptr()
    assert torch.equal(model.animate(source, driving, initial, refs), source)


def test_copy_source_broadcasts_one_source_over_a_batch_of_driving_frames():
    model = build_method("copy-source")
    source = torch.rand(1, 3, 8, 8)
    out = model.generate(source, torch.rand(5, 3, 8, 8))
    assert out.shape == (5, 3, 8, 8) and all(torch.equal(frame, source[0]) for frame in out)


def test_copy_source_takes_no_configuration():
    with pytest.raises(ConfigError, match="copy-source takes no configuration"):
        build_method("copy-source", {"num_kp": 10})
