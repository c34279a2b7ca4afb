"""The copy-source baseline: every generated frame is the source image (a sanity anchor)."""
from __future__ import annotations

from typing import Any, Mapping

import torch

from bench.methods.base import Method


class CopySource(Method):
    name = "copy-source"

    def generate(self, source: torch.Tensor, driving: torch.Tensor, refs: torch.Tensor | None = None) -> torch.Tensor:
        if source.shape != driving.shape:
            source = source.expand_as(driving)
        return source.clone()


def build_copy_source(config: Mapping[str, Any] | None = None) -> CopySource:
    if config:
        raise ValueError("copy-source takes no configuration")
    return CopySource()
