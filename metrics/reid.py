"""Body identity network of pose-evaluation's ``extract_body_id`` (the body AED of FOMM / MRAA).

Reference: ``extract.py::extract_body_id`` of AliaksandrSiarohin/pose-evaluation @ 1bc4cae, with
``reid_baseline/model.py::ft_net`` of layumi/Person_reID_baseline_pytorch
@ 2a5a656f46c35aeb201ab8c3892445ceeb5d5c9d (see ``shared/reference/pose-evaluation/README.md`` §1, §2.4).

What the official code does, and what is reproduced here:

* ``ft_net(751)``: a torchvision ResNet-50 (``model.*``) whose ``avgpool`` is ``AdaptiveAvgPool2d((1, 1))``
  and whose ``fc`` is ft_net's bottleneck ``Sequential(Linear(2048, 512), BatchNorm1d(512), LeakyReLU(0.1),
  Dropout(0.5))``, plus ``classifier = Sequential(Linear(512, 751))``. :class:`FtNet` has exactly this
  ``state_dict`` (327 tensors), so the official ``reid_model.pth`` loads strictly (``num_batches_tracked``
  may be absent: checkpoints saved before torch 0.4.1 lack it).
* The checkpoint is loaded, then ``net.model.fc`` and ``net.classifier`` are replaced by empty
  ``Sequential``\\ s: the embedding is the (B, 2048) flattened global average pool of layer4.
  ``FtNet.forward`` returns exactly that; ``fc`` / ``classifier`` exist only so that the file loads.
* ``net.eval()`` is **never** called: every BatchNorm2d runs in training mode on a batch of one frame, i.e.
  normalises each channel with that frame's own mean and biased variance over (H, W), eps 1e-5, then
  applies BN's weight / bias. The running statistics do not affect the output. Here every BatchNorm2d is a
  :class:`FrameStatsBatchNorm2d` that does this per sample (instance normalisation with BN's affine
  parameters), so a batch of B frames gives what B single-frame calls give, and the running statistics
  and ``num_batches_tracked`` are never updated (the official updates them as a side effect; that has no
  effect on its outputs either, since they are never used).
* Transform (:func:`official_transform`): ``ToPILImage -> Resize((288, 144), PIL BICUBIC) -> ToTensor
  (/255) -> Normalize(0, 255) (a second /255!) -> Normalize(ImageNet mean, std)``. The input is therefore
  about ``-mean/std`` plus a ripple 1/255 of the normal size, and the output is numerically touchy
  (float64 vs float32 forwards differ by up to ~5e-4 on values ~1.5).
* Each frame gives a raw (not normalised) float32 (1, 2048) array: the value stored in the DataFrame that
  ``cmp.py`` compares (squared L2 distance, see :mod:`bench.metrics.pose_evaluation`).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench import weights

NUM_CLASSES = 751  # Market-1501 training identities (ft_net(751) in extract_body_id)
INPUT_SIZE = (288, 144)  # (H, W) of transforms.Resize in extract_body_id
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FrameStatsBatchNorm2d(nn.BatchNorm2d):
    """A BatchNorm2d (same parameters and buffers) that always normalises each sample with its own
    per-channel statistics over (H, W) (biased variance, ``eps``), as train-mode BatchNorm does on a
    batch of one; running statistics are neither used nor updated, in train and in eval mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, None, None, self.weight, self.bias, use_input_stats=True, eps=self.eps)


def _swap_batchnorm(module: nn.Module) -> None:
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            bn = FrameStatsBatchNorm2d(child.num_features, eps=child.eps, momentum=child.momentum,
                                       affine=child.affine, track_running_stats=child.track_running_stats)
            bn.load_state_dict(child.state_dict())
            setattr(module, name, bn)
        else:
            _swap_batchnorm(child)


class FtNet(nn.Module):
    """``ft_net(751)`` of Person_reID_baseline_pytorch with extract_body_id's forward: the (B, 2048)
    global average pool of ResNet-50 layer4, every BatchNorm2d on per-frame statistics."""

    def __init__(self, class_num: int = NUM_CLASSES) -> None:
        super().__init__()
        from torchvision.models import resnet50

        model = resnet50(weights=None)
        model.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        bottleneck = 512
        model.fc = nn.Sequential(nn.Linear(model.fc.in_features, bottleneck), nn.BatchNorm1d(bottleneck),
                                 nn.LeakyReLU(0.1), nn.Dropout(p=0.5))
        _swap_batchnorm(model)
        self.model = model
        self.classifier = nn.Sequential(nn.Linear(bottleneck, class_num))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
        return torch.flatten(m.avgpool(x), 1)

    def load_official_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Strict load of an official ft_net state_dict; missing ``*.num_batches_tracked`` are allowed."""
        state = dict(state_dict)
        for key, value in self.state_dict().items():
            if key.endswith(".num_batches_tracked") and key not in state:
                state[key] = value.clone()
        self.load_state_dict(state, strict=True)


def official_transform():  # noqa: ANN201 - a torchvision Compose
    """extract_body_id's ``data_transforms`` (uint8 H x W x 3 RGB array -> 3 x 288 x 144 float32)."""
    from PIL import Image
    from torchvision import transforms

    return transforms.Compose([
        transforms.ToPILImage(),
        transforms.Resize(INPUT_SIZE, interpolation=Image.BICUBIC),
        transforms.ToTensor(),
        transforms.Normalize([0.0, 0.0, 0.0], [255.0, 255.0, 255.0]),
        transforms.Normalize(list(IMAGENET_MEAN), list(IMAGENET_STD)),
    ])


class ReIDBody:
    """pose-evaluation's body identity embedder: ``B x H x W x 3`` uint8 RGB frames -> one raw float32
    (1, 2048) ft_net embedding per frame (what extract_body_id stores; not L2-normalised)."""

    def __init__(self, device: torch.device | str = "cpu", weights_dir: str | Path | None = None,
                 allow_download: bool = False, pretrained: bool = True) -> None:
        self.device = torch.device(device)
        self.net = FtNet()
        if pretrained:
            path = weights.resolve(weights.REID_BODY, weights_dir, allow_download)
            self.net.load_official_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.net.eval().requires_grad_(False).to(self.device)
        self.transform = official_transform()

    def preprocess(self, images: np.ndarray) -> torch.Tensor:
        """The network input (B, 3, 288, 144) float32 of a batch of frames, on CPU."""
        return torch.stack([self.transform(np.asarray(image, dtype=np.uint8)) for image in images])

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> list[np.ndarray]:
        if len(images) == 0:
            return []
        features = self.net(self.preprocess(images).to(self.device)).float().cpu().numpy()
        return [f[None].copy() for f in features]
