"""LPIPS (Zhang et al. 2018) with the ``lpips`` package: AlexNet by default, VGG16 optional.

The package ships its learned linear layers; the ImageNet backbone comes from torchvision's
checkpoint in the torch hub cache (or ``--weights-dir``), resolved here so that a missing file
is a clear error instead of a download attempt. ``pretrained_backbone=False`` keeps a random
backbone (tests of the plumbing).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from bench.errors import UserError
from bench import weights
from bench.metrics.base import Backend, MetricInfo, TaskUse
from bench.metrics.frame_average import FrameAverageMetric

BACKBONES = {"alex": weights.ALEXNET, "vgg": weights.VGG16}


def load_backbone(net: torch.nn.Module, checkpoint: Path) -> None:
    """Copy torchvision ``features.<i>`` weights into lpips' ``slice<k>.<i>`` layers."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    mapped = {}
    for slice_name, block in net.named_children():
        for index, layer in block.named_children():
            for param in layer.state_dict():
                mapped[f"{slice_name}.{index}.{param}"] = state[f"features.{index}.{param}"]
    net.load_state_dict(mapped, strict=True)


def build_lpips(backbone: str = "alex", pretrained_backbone: bool = True, weights_dir: str | Path | None = None,
                allow_download: bool = False) -> torch.nn.Module:
    """An eval-mode ``lpips.LPIPS`` whose backbone weights come from the resolved checkpoint."""
    import lpips

    if backbone not in BACKBONES:
        raise UserError(f"unknown LPIPS backbone '{backbone}'; choose from: {', '.join(BACKBONES)}")
    checkpoint = weights.resolve(BACKBONES[backbone], weights_dir, allow_download) if pretrained_backbone else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torchvision's 'pretrained' deprecation inside lpips
        model = lpips.LPIPS(net=backbone, pnet_rand=True, verbose=False)
    if checkpoint is not None:
        load_backbone(model.net, checkpoint)
    return model.eval()


class LPIPS(FrameAverageMetric):
    """Learned perceptual distance per frame (lower is better)."""

    info = MetricInfo(
        "lpips", "LPIPS", higher_is_better=False, decimals=3, tasks={"reconstruction": TaskUse("driving")},
        backends=tuple(Backend(name, weights=(file,), reference=f"lpips.LPIPS(net='{name}'), version 0.1")
                       for name, file in BACKBONES.items()),
        reference="lpips package (richzhang/PerceptualSimilarity) LPIPS v0.1, inputs scaled to [-1, 1] "
                  "(normalize=True)")

    def __init__(self, device: torch.device | str = "cpu", target: str = "driving",
                 backend: str | None = None, pretrained_backbone: bool = True, weights_dir: str | Path | None = None,
                 allow_download: bool = False) -> None:
        super().__init__(device, target)
        self.backend = backend or "alex"
        self.model = build_lpips(self.backend, pretrained_backbone, weights_dir, allow_download).to(self.device)

    def frame_scores(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return self.model(generated, real, normalize=True).flatten()
