"""FOMM networks: keypoint detector with local Jacobians, dense motion network, occlusion-aware generator."""
from __future__ import annotations

import torch
from torch import nn

from bench.methods.blocks import (GeneratorTrunk, Hourglass, combine_motions, once_per_source,
                                  deform_sources, heatmap_to_mean, heatmap_weighted_matrices, kp2gaussian,
                                  local_affine_motions, make_coordinate_grid, maybe_downsampler, resize_like,
                                  softmax_heatmap, source_to_driving_jacobian, warp)
from bench.methods.fomm.config import CommonParams, DenseMotionParams, GeneratorParams, KPDetectorParams

KeyPoints = dict[str, torch.Tensor]


class KPDetector(nn.Module):
    """Keypoints as the expected positions of softmax heatmaps; Jacobians as heatmap-weighted 2x2 maps."""

    def __init__(self, common: CommonParams, params: KPDetectorParams) -> None:
        super().__init__()
        self.predictor = Hourglass(params.block_expansion, common.num_channels, params.num_blocks, params.max_features)
        self.kp = nn.Conv2d(self.predictor.out_filters, common.num_kp, kernel_size=7, padding=params.pad)
        if common.estimate_jacobian:
            self.num_jacobian_maps = 1 if params.single_jacobian_map else common.num_kp
            self.jacobian = nn.Conv2d(self.predictor.out_filters, 4 * self.num_jacobian_maps, kernel_size=7,
                                      padding=params.pad)
            nn.init.zeros_(self.jacobian.weight)
            with torch.no_grad():
                self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps))
        else:
            self.jacobian = None
        self.temperature = params.temperature
        self.down = maybe_downsampler(common.num_channels, params.scale_factor)

    def forward(self, image: torch.Tensor) -> KeyPoints:
        x = self.down(image) if self.down is not None else image
        features = self.predictor(x)
        heatmap = softmax_heatmap(self.kp(features), self.temperature)
        out = {"value": heatmap_to_mean(heatmap)}
        if self.jacobian is not None:
            b, _, h, w = heatmap.shape
            maps = self.jacobian(features).reshape(b, self.num_jacobian_maps, 4, h, w)
            out["jacobian"] = heatmap_weighted_matrices(heatmap, maps)
        return out


class DenseMotionNetwork(nn.Module):
    """Predicts the dense backward flow (and occlusion) from K local affine motions plus the identity.

    Inputs of its hourglass: per motion (background first), the heatmap difference
    ``G(kp_d) - G(kp_s)`` and the source warped by that motion.
    """

    def __init__(self, num_kp: int, num_channels: int, estimate_occlusion_map: bool, params: DenseMotionParams) -> None:
        super().__init__()
        self.hourglass = Hourglass(params.block_expansion, (num_kp + 1) * (num_channels + 1), params.num_blocks,
                                   params.max_features)
        self.mask = nn.Conv2d(self.hourglass.out_filters, num_kp + 1, kernel_size=7, padding=3)
        self.occlusion = (nn.Conv2d(self.hourglass.out_filters, 1, kernel_size=7, padding=3)
                          if estimate_occlusion_map else None)
        self.num_kp = num_kp
        self.kp_variance = params.kp_variance
        self.down = maybe_downsampler(num_channels, params.scale_factor)

    def heatmap_representation(self, size: tuple[int, int], kp_driving: KeyPoints, kp_source: KeyPoints) -> torch.Tensor:
        """``B x (K+1) x 1 x H x W``: zero for the background, then ``G(kp_d) - G(kp_s)``."""
        heatmap = (kp2gaussian(kp_driving["value"], size, self.kp_variance)
                   - kp2gaussian(kp_source["value"], size, self.kp_variance))
        zeros = heatmap.new_zeros(heatmap.shape[0], 1, *size)
        return torch.cat([zeros, heatmap], dim=1).unsqueeze(2)

    def sparse_motions(self, size: tuple[int, int], kp_driving: KeyPoints, kp_source: KeyPoints) -> torch.Tensor:
        """``B x (K+1) x H x W x 2`` sampling grids: identity, then each keypoint's first-order motion."""
        value = kp_source["value"]
        identity = make_coordinate_grid(size, value.dtype, value.device)
        jacobian = None
        if "jacobian" in kp_driving:
            jacobian = source_to_driving_jacobian(kp_source["jacobian"], kp_driving["jacobian"])
        motions = local_affine_motions(identity, kp_driving["value"], value, jacobian)
        background = identity.expand(value.shape[0], 1, *identity.shape)
        return torch.cat([background, motions], dim=1)

    def forward(self, source: torch.Tensor, kp_driving: KeyPoints, kp_source: KeyPoints) -> dict[str, torch.Tensor]:
        if self.down is not None:
            source = once_per_source(self.down, source)
        b, _, h, w = source.shape
        heatmaps = self.heatmap_representation((h, w), kp_driving, kp_source)
        motions = self.sparse_motions((h, w), kp_driving, kp_source)
        deformed = deform_sources(source, motions)
        features = self.hourglass(torch.cat([heatmaps, deformed], dim=2).view(b, -1, h, w))
        mask = torch.softmax(self.mask(features), dim=1)
        out = {"sparse_deformed": deformed, "mask": mask, "deformation": combine_motions(motions, mask)}
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(features))
        return out


class OcclusionAwareGenerator(GeneratorTrunk):
    """Encoder -> warp features by the dense motion, mask by occlusion -> residual bottleneck -> decoder."""

    def __init__(self, common: CommonParams, params: GeneratorParams) -> None:
        channels = common.num_channels
        super().__init__(channels, params.block_expansion, params.max_features, params.num_down_blocks,
                         params.num_bottleneck_blocks)
        self.dense_motion_network = (
            DenseMotionNetwork(common.num_kp, channels, params.estimate_occlusion_map, params.dense_motion_params)
            if params.dense_motion_params is not None else None)

    def encode(self, source: torch.Tensor) -> torch.Tensor:
        out = self.first(source)
        for block in self.down_blocks:
            out = block(out)
        return out

    def forward(self, source: torch.Tensor, kp_driving: KeyPoints, kp_source: KeyPoints) -> dict[str, torch.Tensor]:
        out = once_per_source(self.encode, source)
        result: dict[str, torch.Tensor] = {}
        if self.dense_motion_network is not None:
            motion = self.dense_motion_network(source, kp_driving, kp_source)
            result.update(mask=motion["mask"], sparse_deformed=motion["sparse_deformed"],
                          deformation=motion["deformation"])
            out = warp(out, motion["deformation"])
            if "occlusion_map" in motion:
                result["occlusion_map"] = motion["occlusion_map"]
                out = out * resize_like(motion["occlusion_map"], out)
            result["deformed"] = warp(source, motion["deformation"])
        out = self.bottleneck(out)
        for block in self.up_blocks:
            out = block(out)
        result["prediction"] = torch.sigmoid(self.final(out))
        return result
