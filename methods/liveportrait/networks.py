"""LivePortrait's appearance feature extractor (F), warping module (W, with its dense-motion network) and
stitching / retargeting MLPs (S, R), as in the official ``src/modules`` (KwaiVGI/LivePortrait).

Module and attribute names follow the official code, so that the official files load with ``strict=True``.
The warping module works on 3-D feature volumes ``B x C x D x H x W`` whose coordinates are (x, y, z) in [-1, 1].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.methods.blocks import (Decoder, DownBlock2d, Encoder, ResBlock2d, SameBlock2d, UpBlock2d, kp2gaussian,
                                  make_coordinate_grid)
from bench.methods.liveportrait.config import (AppearanceParams, DenseMotionParams, MLPParams, StitchingParams,
                                               WarpingParams)

#: variance of the keypoint heatmaps (official ``DenseMotionNetwork.create_heatmap_representations``)
KP_VARIANCE = 0.01


class ResBlock3d(ResBlock2d):
    """Pre-activation residual block (BN-ReLU-conv twice) on a volume."""

    conv_layer, norm_layer = nn.Conv3d, nn.BatchNorm3d


class DownBlock3d(DownBlock2d):
    """Conv-BN-ReLU, then 2x average pooling of height and width (not depth)."""

    conv_layer, norm_layer = nn.Conv3d, nn.BatchNorm3d
    pool, window = staticmethod(F.avg_pool3d), (1, 2, 2)


class UpBlock3d(UpBlock2d):
    """Nearest 2x upsampling of height and width (not depth), then conv-BN-ReLU."""

    conv_layer, norm_layer = nn.Conv3d, nn.BatchNorm3d
    scale = (1, 2, 2)


class Decoder3d(Decoder):
    """The 3-D hourglass decoder, with a final conv-BN-ReLU at full resolution (official ``util.Decoder``)."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int) -> None:
        super().__init__(block_expansion, in_features, num_blocks, max_features, block=UpBlock3d)
        self.conv = nn.Conv3d(self.out_filters, self.out_filters, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_filters, affine=True)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return F.relu(self.norm(self.conv(super().forward(features))))


class Hourglass3d(nn.Module):
    """U-Net on volumes; output has ``out_filters = block_expansion + in_features`` channels."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features, block=DownBlock3d)
        self.decoder = Decoder3d(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class AppearanceFeatureExtractor(nn.Module):
    """F: image ``B x 3 x S x S`` -> feature volume ``B x reshape_channel x reshape_depth x S/4 x S/4``."""

    def __init__(self, p: AppearanceParams) -> None:
        super().__init__()
        self.reshape_channel, self.reshape_depth = p.reshape_channel, p.reshape_depth
        self.first = SameBlock2d(p.image_channel, p.block_expansion, kernel_size=3, padding=1)
        widths = [min(p.max_features, p.block_expansion * 2 ** i) for i in range(p.num_down_blocks + 1)]
        self.down_blocks = nn.ModuleList(DownBlock2d(widths[i], widths[i + 1]) for i in range(p.num_down_blocks))
        self.second = nn.Conv2d(widths[-1], p.max_features, kernel_size=1)
        self.resblocks_3d = nn.Sequential()
        for i in range(p.num_resblocks):
            self.resblocks_3d.add_module(f"3dr{i}", ResBlock3d(p.reshape_channel))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = self.first(image)
        for block in self.down_blocks:
            out = block(out)
        out = self.second(out)
        b, _, h, w = out.shape
        return self.resblocks_3d(out.view(b, self.reshape_channel, self.reshape_depth, h, w))


class DenseMotionNetwork(nn.Module):
    """Dense motion from sparse keypoint motions (translations in 3-D, no Jacobians), their soft masks and an
    occlusion map, as the official ``dense_motion.DenseMotionNetwork``."""

    def __init__(self, p: DenseMotionParams, num_kp: int, feature_channel: int, estimate_occlusion_map: bool) -> None:
        super().__init__()
        self.num_kp = num_kp
        self.hourglass = Hourglass3d(p.block_expansion, (num_kp + 1) * (p.compress + 1), p.num_blocks, p.max_features)
        self.mask = nn.Conv3d(self.hourglass.out_filters, num_kp + 1, kernel_size=7, padding=3)
        self.compress = nn.Conv3d(feature_channel, p.compress, kernel_size=1)
        self.norm = nn.BatchNorm3d(p.compress, affine=True)
        self.occlusion = (nn.Conv2d(self.hourglass.out_filters * p.reshape_depth, 1, kernel_size=7, padding=3)
                          if estimate_occlusion_map else None)

    def sparse_motions(self, size: tuple[int, int, int], kp_driving: torch.Tensor,
                       kp_source: torch.Tensor) -> torch.Tensor:
        """``B x (K+1) x D x H x W x 3``: the identity, then z -> z - kp_d + kp_s per keypoint."""
        b, k = kp_driving.shape[:2]
        identity = make_coordinate_grid(size, kp_source.dtype, kp_source.device).view(1, 1, *size, 3)
        moved = identity - kp_driving.view(b, k, 1, 1, 1, 3) + kp_source.view(b, k, 1, 1, 1, 3)
        return torch.cat([identity.repeat(b, 1, 1, 1, 1, 1), moved], dim=1)

    def forward(self, feature: torch.Tensor, kp_driving: torch.Tensor,
                kp_source: torch.Tensor) -> dict[str, torch.Tensor]:
        b, _, d, h, w = feature.shape
        feature = F.relu(self.norm(self.compress(feature)))
        k = self.num_kp + 1
        sparse = self.sparse_motions((d, h, w), kp_driving, kp_source)
        repeated = feature.unsqueeze(1).repeat(1, k, 1, 1, 1, 1).view(b * k, -1, d, h, w)
        deformed = F.grid_sample(repeated, sparse.view(b * k, d, h, w, 3), align_corners=False).view(b, k, -1, d, h, w)
        heatmap = (kp2gaussian(kp_driving, (d, h, w), KP_VARIANCE) - kp2gaussian(kp_source, (d, h, w), KP_VARIANCE))
        heatmap = torch.cat([heatmap.new_zeros(b, 1, d, h, w), heatmap], dim=1).unsqueeze(2)
        prediction = self.hourglass(torch.cat([heatmap, deformed], dim=2).view(b, -1, d, h, w))
        mask = F.softmax(self.mask(prediction), dim=1)
        deformation = (sparse.permute(0, 1, 5, 2, 3, 4) * mask.unsqueeze(2)).sum(dim=1).permute(0, 2, 3, 4, 1)
        out = {"mask": mask, "deformation": deformation}
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(prediction.reshape(b, -1, h, w)))
        return out


class LeakySameBlock2d(SameBlock2d):
    """Conv-BN-LeakyReLU at constant resolution (official ``SameBlock2d(..., lrelu=True)``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.norm(self.conv(x)))


class WarpingNetwork(nn.Module):
    """W: warps the source feature volume by the dense motion between the source and driving keypoints, folds
    depth into channels and masks the result with the occlusion map (official ``warping_network.WarpingNetwork``)."""

    def __init__(self, p: WarpingParams) -> None:
        super().__init__()
        self.dense_motion_network = DenseMotionNetwork(p.dense_motion_params, p.num_kp, p.reshape_channel,
                                                       p.estimate_occlusion_map)
        width = p.block_expansion * 2 ** p.num_down_blocks
        self.third = LeakySameBlock2d(p.max_features, width, kernel_size=3, padding=1)
        self.fourth = nn.Conv2d(width, width, kernel_size=1)

    def forward(self, feature_3d: torch.Tensor, kp_driving: torch.Tensor,
                kp_source: torch.Tensor) -> dict[str, torch.Tensor]:
        """``occlusion_map`` (``B x 1 x H x W`` or None), ``deformation`` (``B x D x H x W x 3``), ``out``
        (the warped feature ``B x C x H x W``)."""
        dense = self.dense_motion_network(feature_3d, kp_driving, kp_source)
        occlusion = dense.get("occlusion_map")
        out = F.grid_sample(feature_3d, dense["deformation"], align_corners=False)
        b, c, d, h, w = out.shape
        out = self.fourth(self.third(out.reshape(b, c * d, h, w)))
        if occlusion is not None:
            out = out * occlusion
        return {"occlusion_map": occlusion, "deformation": dense["deformation"], "out": out}


class StitchingRetargetingNetwork(nn.Module):
    """An MLP (Linear-ReLU ..., Linear) under the official attribute name ``mlp``."""

    def __init__(self, p: MLPParams) -> None:
        super().__init__()
        sizes = [p.input_size, *p.hidden_sizes]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
        self.mlp = nn.Sequential(*layers, nn.Linear(sizes[-1], p.output_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class StitchingRetargetingModule(nn.Module):
    """The official ``stitching_retargeting_module.pth``: one MLP per entry of the file, ``retarget_shoulder``
    (S, stitching: ``[x_s, x_d]`` -> expression and (tx, ty) corrections), ``retarget_mouth`` and ``retarget_eye``
    (the lip / eye retargeting R, driven by landmark ratios of the face-cropping pipeline: loaded, not used by the
    protocol's modes)."""

    def __init__(self, p: StitchingParams) -> None:
        super().__init__()
        self.retarget_shoulder = StitchingRetargetingNetwork(p.stitching)
        self.retarget_mouth = StitchingRetargetingNetwork(p.lip)
        self.retarget_eye = StitchingRetargetingNetwork(p.eye)

    def stitch(self, kp_source: torch.Tensor, kp_driving: torch.Tensor) -> torch.Tensor:
        """``LivePortraitWrapper.stitching``: the driving keypoints plus the predicted expression delta, and the
        predicted (tx, ty) added to x and y."""
        b, k = kp_driving.shape[:2]
        delta = self.retarget_shoulder(torch.cat([kp_source.reshape(b, -1), kp_driving.reshape(b, -1)], dim=1))
        out = kp_driving + delta[:, :3 * k].reshape(b, k, 3)
        shift = torch.cat([delta[:, 3 * k:3 * k + 2], delta.new_zeros(b, 1)], dim=1)
        return out + shift.view(b, 1, 3)
