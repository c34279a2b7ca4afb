"""TPSMM networks (yoyo-nb/Thin-Plate-Spline-Motion-Model, ``modules/*.py``), checkpoint-compatible.

The official blocks (``modules/util.py``) are FOMM's with ``InstanceNorm2d(affine=True)`` in place of
BatchNorm: our shared blocks are built and their norms swapped (:func:`instance_norm`), which keeps the
official key names and drops the running statistics, as in the official checkpoints. Every
``grid_sample`` / bilinear ``interpolate`` of TPSMM uses ``align_corners=True`` (FOMM and MRAA use False):
the shared warping helpers are called with it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18

from bench.methods.blocks import (DownBlock2d, Hourglass, ResBlock2d, SameBlock2d, UpBlock2d, deform_sources,
                                  from_homogeneous, kp2gaussian, make_coordinate_grid, maybe_downsampler, mlp,
                                  once_per_source, resize_like, to_homogeneous, warp)
from bench.methods.tpsmm.config import (OCCLUSION_NUM, AVDParams, CommonParams, DenseMotionParams, GeneratorParams,
                                        occlusion_upsamplings)
from bench.methods.tpsmm.tps import ALIGN_CORNERS, TPS

Keypoints = dict[str, torch.Tensor]


def instance_norm(module: nn.Module) -> nn.Module:
    """Replace every ``BatchNorm2d`` inside ``module`` by ``InstanceNorm2d(affine=True)``, in place."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, nn.InstanceNorm2d(child.num_features, affine=True))
        else:
            instance_norm(child)
    return module


# ----------------------------------------------------------------------------- keypoints / background

def _resnet18(in_channels: int, outputs: int) -> nn.Module:
    """torchvision ResNet-18 (random init) with ``in_channels`` inputs and an ``outputs``-wide ``fc``."""
    net = resnet18(weights=None)
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)
    net.fc = nn.Linear(net.fc.in_features, outputs)
    return net


class KPDetector(nn.Module):
    """``modules/keypoint_detector.py``: a ResNet-18 regresses K*5 keypoints, ``tanh``-like squashed to [-1, 1]."""

    def __init__(self, common: CommonParams) -> None:
        super().__init__()
        self.num_tps = common.num_tps
        self.fg_encoder = _resnet18(common.num_channels, common.num_tps * 5 * 2)

    def forward(self, image: torch.Tensor) -> Keypoints:
        fg_kp = torch.sigmoid(self.fg_encoder(image)) * 2 - 1
        return {"fg_kp": fg_kp.view(fg_kp.shape[0], self.num_tps * 5, -1)}


class BGMotionPredictor(nn.Module):
    """``modules/bg_motion_predictor.py``: an affine background motion (3x3, last row 0 0 1) from
    the source/driving pair, by a ResNet-18 with a two-frame ``conv1``; initialised to the identity."""

    def __init__(self, common: CommonParams) -> None:
        super().__init__()
        self.bg_encoder = _resnet18(2 * common.num_channels, 6)
        with torch.no_grad():
            self.bg_encoder.fc.weight.zero_()
            self.bg_encoder.fc.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def forward(self, source_image: torch.Tensor, driving_image: torch.Tensor) -> torch.Tensor:
        bs = source_image.shape[0]
        out = torch.eye(3, dtype=source_image.dtype, device=source_image.device).unsqueeze(0).repeat(bs, 1, 1)
        prediction = self.bg_encoder(torch.cat([source_image, driving_image], dim=1))
        out[:, :2, :] = prediction.view(bs, 2, 3)
        return out


# ----------------------------------------------------------------------------- dense motion

def dropout_uniform(batch: int, channels: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """The uniforms of the TPS dropout, ``torch.rand(B, K+1)`` on the CPU (official ``dropout_softmax``)."""
    return torch.rand(batch, channels, generator=generator)


class LevelsHourglass(Hourglass):
    """``util.Hourglass`` with ``mode=1``: instance-normalised, returns every decoder level (coarse to fine)."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int) -> None:
        super().__init__(block_expansion, in_features, num_blocks, max_features)
        instance_norm(self)
        width = [min(max_features, block_expansion * 2 ** i) for i in range(num_blocks + 1)]
        #: channels of each returned level (up-block output + encoder skip)
        self.level_channels = [width[i] + (width[i] if i > 0 else in_features) for i in reversed(range(num_blocks))]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # type: ignore[override]
        skips = self.encoder(x)
        out = skips.pop()
        outs = []
        for block in self.decoder.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
            outs.append(out)
        return outs


class DenseMotionNetwork(nn.Module):
    """``modules/dense_motion.py``: the optical flow as a softmax-weighted sum of K TPS warps and the
    (affine) background warp, and multi-resolution occlusion masks."""

    def __init__(self, common: CommonParams, params: DenseMotionParams) -> None:
        super().__init__()
        k, c = common.num_tps, common.num_channels
        self.down = maybe_downsampler(c, params.scale_factor)
        self.hourglass = LevelsHourglass(params.block_expansion, c * (k + 1) + k * 5 + 1, params.num_blocks,
                                         params.max_features)
        levels = self.hourglass.level_channels
        self.maps = nn.Conv2d(levels[-1], k + 1, kernel_size=(7, 7), padding=(3, 3))
        self.multi_mask = common.multi_mask
        if self.multi_mask:
            self.up_nums = occlusion_upsamplings(params.scale_factor)
            self.occlusion_num = OCCLUSION_NUM
            widths = [levels[-1] // 2 ** i for i in range(self.up_nums + 1)]
            self.up = nn.ModuleList(instance_norm(UpBlock2d(widths[i], widths[i + 1], kernel_size=3, padding=1))
                                    for i in range(self.up_nums))
            channels = levels[len(levels) - (self.occlusion_num - self.up_nums):] + widths[1:]
            self.occlusion = nn.ModuleList(nn.Conv2d(ch, 1, kernel_size=(7, 7), padding=(3, 3)) for ch in channels)
        else:
            self.occlusion = nn.ModuleList([nn.Conv2d(levels[-1], 1, kernel_size=(7, 7), padding=(3, 3))])
        self.num_tps = k
        self.bg = common.bg
        self.kp_variance = params.kp_variance

    def create_heatmap_representations(self, size: tuple[int, int], kp_driving: Keypoints,
                                       kp_source: Keypoints) -> torch.Tensor:
        """``B x (1 + 5K) x H x W``: zeros for the background, then ``G(driving) - G(source)`` per keypoint."""
        heatmap = (kp2gaussian(kp_driving["fg_kp"], size, self.kp_variance)
                   - kp2gaussian(kp_source["fg_kp"], size, self.kp_variance))
        zeros = heatmap.new_zeros(heatmap.shape[0], 1, *size)
        return torch.cat([zeros, heatmap], dim=1)

    def create_transformations(self, size: tuple[int, int], kp_driving: Keypoints, kp_source: Keypoints,
                               bg_param: torch.Tensor | None) -> torch.Tensor:
        """``B x (K+1) x H x W x 2``: the background warp (identity or ``bg_param``), then the K TPS warps."""
        kp_1, kp_2 = kp_driving["fg_kp"], kp_source["fg_kp"]
        bs = kp_1.shape[0]
        driving_to_source = TPS.from_keypoints(kp_1.reshape(bs, -1, 5, 2), kp_2.reshape(bs, -1, 5, 2)).sampling_grid(
            size, kp_1.dtype, kp_1.device)
        identity = make_coordinate_grid(size, kp_1.dtype, kp_1.device).view(1, 1, *size, 2).repeat(bs, 1, 1, 1, 1)
        if bg_param is not None:
            identity = from_homogeneous(
                torch.matmul(bg_param.view(bs, 1, 1, 1, 3, 3), to_homogeneous(identity).unsqueeze(-1)).squeeze(-1))
        return torch.cat([identity, driving_to_source], dim=1)

    def create_deformed_source_image(self, source_image: torch.Tensor, transformations: torch.Tensor) -> torch.Tensor:
        """The source warped by each of the K+1 transformations, ``B x (K+1) x C x H x W``."""
        return deform_sources(source_image, transformations, ALIGN_CORNERS)

    @staticmethod
    def dropout_softmax(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """Softmax over dim 1 with each TPS channel (not the background) dropped with probability ``p``
        (Eq. 7-8 of the paper); the mask is drawn on the CPU as the official ``dropout_softmax``.

        The official function also divides ``X[:, 1:]`` by ``1 - p`` after exponentiating, which
        changes nothing it returns; that dead statement is left out.
        """
        keep = (dropout_uniform(x.shape[0], x.shape[1], generator) < (1 - p)).to(device=x.device, dtype=x.dtype)
        keep[..., 0] = 1
        keep = keep.view(*keep.shape, 1, 1)
        x_exp = (x - x.max(1).values.unsqueeze(1)).exp().masked_fill(keep == 0, 0)
        return x_exp / (x_exp.sum(dim=1, keepdim=True) + 1e-6)

    def forward(self, source_image: torch.Tensor, kp_driving: Keypoints, kp_source: Keypoints,
                bg_param: torch.Tensor | None = None, dropout_flag: bool = False, dropout_p: float = 0.0,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """``deformed_source``, ``contribution_maps`` (K+1), ``deformation`` (``B x h x w x 2`` at the
        dense-motion resolution) and ``occlusion_map`` (a list, coarse to fine)."""
        if self.down is not None:
            source_image = self.down(source_image)
        bs, _, h, w = source_image.shape
        heatmap = self.create_heatmap_representations((h, w), kp_driving, kp_source)
        transformations = self.create_transformations((h, w), kp_driving, kp_source, bg_param)
        deformed_source = self.create_deformed_source_image(source_image, transformations)
        out: dict[str, torch.Tensor | list[torch.Tensor]] = {"deformed_source": deformed_source}
        prediction = self.hourglass(torch.cat([heatmap, deformed_source.view(bs, -1, h, w)], dim=1))

        logits = self.maps(prediction[-1])
        contribution_maps = (self.dropout_softmax(logits, dropout_p, generator) if dropout_flag
                             else F.softmax(logits, dim=1))
        out["contribution_maps"] = contribution_maps
        # Eq. 6: the K+1 transformations weighted by the contribution maps
        deformation = (transformations.permute(0, 1, 4, 2, 3) * contribution_maps.unsqueeze(2)).sum(dim=1)
        out["deformation"] = deformation.permute(0, 2, 3, 1)

        occlusion_map = []
        if self.multi_mask:
            first = self.occlusion_num - self.up_nums
            for i in range(first):
                occlusion_map.append(torch.sigmoid(self.occlusion[i](prediction[i - first])))
            feature = prediction[-1]
            for i in range(self.up_nums):
                feature = self.up[i](feature)
                occlusion_map.append(torch.sigmoid(self.occlusion[first + i](feature)))
        else:
            occlusion_map.append(torch.sigmoid(self.occlusion[0](prediction[-1])))
        out["occlusion_map"] = occlusion_map
        return out


# ----------------------------------------------------------------------------- inpainting

class InpaintingNetwork(nn.Module):
    """``modules/inpainting_network.py``: an encoder whose feature maps are warped by the deformation
    and masked by the occlusion maps, a residual decoder that inpaints, and a final blend of the
    generated image with the warped source."""

    def __init__(self, common: CommonParams, params: GeneratorParams) -> None:
        super().__init__()
        be, mf, n = params.block_expansion, params.max_features, params.num_down_blocks
        c = common.num_channels
        self.num_down_blocks = n
        self.multi_mask = common.multi_mask
        self.num_channels = c
        self.first = SameBlock2d(c, be, kernel_size=7, padding=3)
        down, up, res = [], [], []
        for i in range(n):
            in_features, out_features = min(mf, be * 2 ** i), min(mf, be * 2 ** (i + 1))
            down.append(DownBlock2d(in_features, out_features, kernel_size=3, padding=1))
            decoder_in = out_features if i == n - 1 else 2 * out_features
            up.append(UpBlock2d(decoder_in, in_features, kernel_size=3, padding=1))
            res += [ResBlock2d(decoder_in, kernel_size=3, padding=1), ResBlock2d(decoder_in, kernel_size=3, padding=1)]
        self.down_blocks = nn.ModuleList(down)
        self.up_blocks = nn.ModuleList(up[::-1])
        self.resblock = nn.ModuleList(res[::-1])
        self.final = nn.Conv2d(be, c, kernel_size=(7, 7), padding=(3, 3))
        instance_norm(self)

    def occlude_input(self, inp: torch.Tensor, occlusion_map: torch.Tensor) -> torch.Tensor:
        if not self.multi_mask:
            occlusion_map = resize_like(occlusion_map, inp, ALIGN_CORNERS)
        return inp * occlusion_map

    def _warp(self, feature: torch.Tensor, deformation: torch.Tensor,
              occlusion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(warped and occluded ``feature``, the same from detached inputs for the warp loss)."""
        out = self.occlude_input(warp(feature, deformation, ALIGN_CORNERS), occlusion)
        if not torch.is_grad_enabled():
            return out, out
        return out, self.occlude_input(warp(feature.detach(), deformation, ALIGN_CORNERS), occlusion.detach())

    def encode(self, source_image: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's outputs, first to deepest."""
        encoder_map = [self.first(source_image)]
        for block in self.down_blocks:
            encoder_map.append(block(encoder_map[-1]))
        return encoder_map

    def forward(self, source_image: torch.Tensor, dense_motion: dict) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """``prediction``, ``deformed`` (source warped by the flow), ``warped_encoder_maps`` (the warped,
        occluded encoder features from detached inputs, coarse to fine: what the warp loss compares)."""
        encoder_map = once_per_source(self.encode, source_image)
        out = encoder_map[-1]

        occlusion_map = dense_motion["occlusion_map"]
        deformation = dense_motion["deformation"]
        out, detached = self._warp(out, deformation, occlusion_map[0])
        warped_encoder_maps = [detached]
        encode_i = out
        for i in range(self.num_down_blocks):
            out = self.resblock[2 * i + 1](self.resblock[2 * i](out))
            out = self.up_blocks[i](out)
            encode_i, detached = self._warp(encoder_map[-(i + 2)], deformation,
                                            occlusion_map[i + 1 if self.multi_mask else 0])
            warped_encoder_maps.append(detached)
            if i == self.num_down_blocks - 1:
                break
            out = torch.cat([out, encode_i], 1)

        deformed_source = warp(source_image, deformation, ALIGN_CORNERS)
        occlusion_last = occlusion_map[-1]
        if not self.multi_mask:
            occlusion_last = resize_like(occlusion_last, out, ALIGN_CORNERS)
        out = out * (1 - occlusion_last) + encode_i
        out = torch.sigmoid(self.final(out))
        out = out * (1 - occlusion_last) + deformed_source * occlusion_last
        return {"contribution_maps": dense_motion["contribution_maps"],
                "deformed_source": dense_motion["deformed_source"], "occlusion_map": occlusion_map,
                "deformed": deformed_source, "warped_encoder_maps": warped_encoder_maps, "prediction": out}

    def get_encode(self, driver_image: torch.Tensor, occlusion_map: list[torch.Tensor]) -> list[torch.Tensor]:
        """The driving frame's encoder features masked by the occlusion maps, fine to coarse, all
        detached (official ``get_encode``, the warp-loss target).

        The official code indexes ``occlusion_map[2 - i]`` (four masks); without ``multi_mask`` (one
        mask, where the official call fails) the single mask is used at every level.
        """
        out = self.first(driver_image)
        encoder_map = [self.occlude_input(out.detach(), occlusion_map[-1].detach())]
        for i, block in enumerate(self.down_blocks):
            out = block(out.detach())
            mask = occlusion_map[len(occlusion_map) - 2 - i] if self.multi_mask else occlusion_map[0]
            encoder_map.append(self.occlude_input(out.detach(), mask.detach()).detach())
        return encoder_map


# ----------------------------------------------------------------------------- AVD

class AVDNetwork(nn.Module):
    """``modules/avd_network.py``: animation via disentanglement on the flattened 5K keypoints,
    identity from the source, pose from the driving frame."""

    def __init__(self, num_tps: int, params: AVDParams) -> None:
        super().__init__()
        size = 5 * 2 * num_tps
        self.num_tps = num_tps
        self.id_encoder = mlp([size, 256, 512, 1024, params.id_bottle_size])
        self.pose_encoder = mlp([size, 256, 512, 1024, params.pose_bottle_size])
        self.decoder = mlp([params.pose_bottle_size + params.id_bottle_size, 1024, 512, 256, size])

    def forward(self, kp_source: Keypoints, kp_random: Keypoints) -> Keypoints:
        bs = kp_source["fg_kp"].shape[0]
        pose_emb = self.pose_encoder(kp_random["fg_kp"].reshape(bs, -1))
        id_emb = self.id_encoder(kp_source["fg_kp"].reshape(bs, -1))
        rec = self.decoder(torch.cat([pose_emb, id_emb], dim=1))
        return {"fg_kp": rec.view(bs, self.num_tps * 5, -1)}
