"""The FVD feature network: StyleGAN-V's TorchScript I3D, called as StyleGAN-V calls it.

universome/stylegan-v ``src/metrics/frechet_video_distance.py`` loads ``i3d_torchscript.pt`` (a
TorchScript port of the TF-Hub Kinetics-400 I3D used by the original FVD code of
google-research ``frechet_video_distance``) with ``torch.jit.load`` and calls it on
``B x 3 x T x H x W`` uint8 clips at the data's own frame size with ``rescale=True, resize=True,
return_features=True`` ("Return raw features before the softmax layer"): the module itself scales
[0, 255] to [-1, 1], resizes the frames to I3D's 224 x 224 and returns the 400-d features (what the
flags do is read from StyleGAN-V's call and comments; the TorchScript file was not available offline
to inspect, so it is called exactly as StyleGAN-V calls it rather than preprocessed here). The file
is found in ``--weights-dir`` or the torch hub cache (:data:`bench.weights.I3D_FVD`); it is
never downloaded unless asked for.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from bench import weights

#: StyleGAN-V's ``detector_kwargs`` for FVD
I3D_KWARGS = {"rescale": True, "resize": True, "return_features": True}
FEATURE_DIM = 400


def load_i3d(weights_dir: str | Path | None = None, allow_download: bool = False) -> torch.nn.Module:
    """The TorchScript I3D from its resolved file (MissingWeightsError naming ``i3d_torchscript.pt`` if absent)."""
    path = weights.resolve(weights.I3D_FVD, weights_dir, allow_download)
    with warnings.catch_warnings():  # the file is TorchScript: torch.jit.load is the only way to read it
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* deprecated", category=FutureWarning)
        return torch.jit.load(str(path), map_location="cpu").eval()


class I3DFeatures(torch.nn.Module):
    """``B x 3 x T x H x W`` uint8 clips -> ``B x 400`` I3D features (``detector(clips, **I3D_KWARGS)``)."""

    def __init__(self, detector: torch.nn.Module) -> None:
        super().__init__()
        self.detector = detector

    @torch.no_grad()
    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        if clips.dtype != torch.uint8 or clips.ndim != 5 or clips.shape[1] != 3:
            raise ValueError(f"expected B x 3 x T x H x W uint8 clips, got {clips.dtype} {tuple(clips.shape)}")
        return self.detector(clips.contiguous(), **I3D_KWARGS).float().flatten(1)
