"""MRAA networks: PCA region predictor, background motion predictor, pixel-wise flow predictor,
generator with skip connections, and the animation-via-disentanglement (AVD) network."""
from __future__ import annotations

import torch
from torch import nn

from bench.methods.blocks import (Encoder, GeneratorTrunk, Hourglass, combine_motions, deform_sources,
                                  from_homogeneous, heatmap_to_mean, heatmap_weighted_matrices,
                                  local_affine_motions, make_coordinate_grid, maybe_downsampler, mlp,
                                  once_per_source, region2gaussian, resize_like, softmax_heatmap,
                                  source_to_driving_jacobian, to_homogeneous, warp)
from bench.methods.mraa.config import (AVDParams, BGPredictorParams, GeneratorParams, PixelwiseFlowParams,
                                       RegionPredictorParams)

Regions = dict[str, torch.Tensor]


def revert_axis_swap(affine: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Flip ``affine`` (``B x K x 2 x 2``) where ``reference[..., 0, 0]`` is negative.

    PCA axes are defined up to sign; a negative top-left entry of ``A_s A_d^-1`` means the
    two frames picked opposite signs, which would rotate the region by 180 degrees.
    """
    return affine * torch.sign(reference[:, :, 0:1, 0:1])


def region_covariance(heatmap: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """``B x K x 2 x 2`` covariance of each normalised region heatmap around its ``mean``."""
    grid = make_coordinate_grid(heatmap.shape[2:], heatmap.dtype, heatmap.device)
    diff = grid.view(1, 1, *grid.shape) - mean.view(*mean.shape[:2], 1, 1, 2)
    outer = diff.unsqueeze(-1) * diff.unsqueeze(-2)
    return (outer * heatmap[..., None, None]).sum(dim=(2, 3))


def covariance_sqrt(covar: torch.Tensor, fast: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA square root ``U diag(sqrt(s))`` of ``covar`` (``B x K x 2 x 2``); returns (sqrt, U, D) as MRAA.

    The SVD runs on the CPU like the official code, so singular-vector signs match its checkpoints;
    ``fast`` uses a symmetric eigendecomposition on the input device instead (eigenvalues descending).
    """
    flat = covar.reshape(-1, 2, 2)
    if fast:
        s, u = torch.linalg.eigh(flat)
        s, u = s.flip(-1).clamp_min(0), u.flip(-1)
    else:
        u, s, _ = torch.linalg.svd(flat.cpu())
        u, s = u.to(covar.device), s.to(covar.device)
    d = torch.diag_embed(s ** 0.5)
    return torch.matmul(u, d).view(covar.shape), u, d


class RegionPredictor(nn.Module):
    """Regions as softmax heatmaps: shift = mean, affine = PCA square root of the covariance
    (or a regressed 2x2 map when ``pca_based`` is false)."""

    def __init__(self, num_regions: int, num_channels: int, estimate_affine: bool, params: RegionPredictorParams) -> None:
        super().__init__()
        self.predictor = Hourglass(params.block_expansion, num_channels, params.num_blocks, params.max_features)
        self.regions = nn.Conv2d(self.predictor.out_filters, num_regions, kernel_size=7, padding=params.pad)
        if estimate_affine and not params.pca_based:
            self.jacobian = nn.Conv2d(self.predictor.out_filters, 4, kernel_size=7, padding=params.pad)
            nn.init.zeros_(self.jacobian.weight)
            with torch.no_grad():
                self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0]))
        else:
            self.jacobian = None
        self.estimate_affine = estimate_affine
        self.pca_based = params.pca_based
        self.fast_svd = params.fast_svd
        self.temperature = params.temperature
        self.down = maybe_downsampler(num_channels, params.scale_factor)

    def forward(self, image: torch.Tensor) -> Regions:
        x = self.down(image) if self.down is not None else image
        features = self.predictor(x)
        heatmap = softmax_heatmap(self.regions(features), self.temperature)
        shift = heatmap_to_mean(heatmap)
        out: Regions = {"shift": shift, "heatmap": heatmap}
        if self.pca_based:
            out["covar"] = region_covariance(heatmap, shift)
        if self.jacobian is not None:
            b, _, h, w = heatmap.shape
            affine = heatmap_weighted_matrices(heatmap, self.jacobian(features).reshape(b, 1, 4, h, w))
            out["affine"] = affine
            out["covar"] = torch.matmul(affine, affine.transpose(-1, -2))
        elif self.pca_based and self.estimate_affine:
            out["affine"], out["u"], out["d"] = covariance_sqrt(out["covar"], self.fast_svd)
        return out


class BGMotionPredictor(nn.Module):
    """Background motion as a 3x3 matrix (identity for ``bg_type='zero'``) from the source/driving pair."""

    def __init__(self, num_channels: int, params: BGPredictorParams) -> None:
        super().__init__()
        self.bg_type = params.bg_type
        if self.bg_type == "zero":
            self.encoder = self.fc = None
            return
        self.encoder = Encoder(params.block_expansion, 2 * num_channels, params.num_blocks, params.max_features)
        width = min(params.max_features, params.block_expansion * 2 ** params.num_blocks)
        identity = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0] + ([0.0, 0.0] if self.bg_type == "perspective" else [])
        self.fc = nn.Linear(width, len(identity))
        nn.init.zeros_(self.fc.weight)
        with torch.no_grad():
            self.fc.bias.copy_(torch.tensor(identity))

    def forward(self, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        b = source.shape[0]
        out = torch.eye(3, dtype=source.dtype, device=source.device).repeat(b, 1, 1)
        if self.encoder is None:
            return out
        pred = self.fc(self.encoder(torch.cat([source, driving], dim=1))[-1].mean(dim=(2, 3)))
        out[:, :2, :] = pred[:, :6].view(b, 2, 3)
        if self.bg_type == "perspective":
            out[:, 2, :2] = pred[:, 6:].view(b, 2)
        return out


class PixelwiseFlowPredictor(nn.Module):
    """Dense flow and occlusion from K region affine motions plus the background motion."""

    def __init__(self, num_regions: int, num_channels: int, revert_axis_swap: bool, params: PixelwiseFlowParams) -> None:
        super().__init__()
        in_features = (num_regions + 1) * (num_channels * int(params.use_deformed_source) + 1)
        self.hourglass = Hourglass(params.block_expansion, in_features, params.num_blocks, params.max_features)
        self.mask = nn.Conv2d(self.hourglass.out_filters, num_regions + 1, kernel_size=7, padding=3)
        self.occlusion = (nn.Conv2d(self.hourglass.out_filters, 1, kernel_size=7, padding=3)
                          if params.estimate_occlusion_map else None)
        self.num_regions = num_regions
        self.region_var = params.region_var
        self.use_covar_heatmap = params.use_covar_heatmap
        self.use_deformed_source = params.use_deformed_source
        self.revert_axis_swap = revert_axis_swap
        self.down = maybe_downsampler(num_channels, params.scale_factor)

    def heatmap_representation(self, size: tuple[int, int], driving: Regions, source: Regions) -> torch.Tensor:
        """``B x (K+1) x 1 x H x W``: zero for the background, then ``G(driving) - G(source)``."""
        def gaussian(params: Regions) -> torch.Tensor:
            covar = params["covar"] if self.use_covar_heatmap else self.region_var
            return region2gaussian(params["shift"], covar, size)

        heatmap = gaussian(driving) - gaussian(source)
        zeros = heatmap.new_zeros(heatmap.shape[0], 1, *size)
        return torch.cat([zeros, heatmap], dim=1).unsqueeze(2)

    def sparse_motions(self, size: tuple[int, int], driving: Regions, source: Regions,
                       bg_params: torch.Tensor | None) -> torch.Tensor:
        """``B x (K+1) x H x W x 2``: background motion, then each region's affine motion."""
        shift = source["shift"]
        b = shift.shape[0]
        identity = make_coordinate_grid(size, shift.dtype, shift.device)
        affine = None
        if "affine" in driving:
            affine = source_to_driving_jacobian(source["affine"], driving["affine"])
            if self.revert_axis_swap:
                affine = revert_axis_swap(affine, affine)
        motions = local_affine_motions(identity, driving["shift"], shift, affine)
        background = identity.expand(b, 1, *identity.shape)
        if bg_params is not None:
            background = from_homogeneous(
                torch.matmul(bg_params.view(b, 1, 1, 1, 3, 3), to_homogeneous(background).unsqueeze(-1)).squeeze(-1))
        return torch.cat([background, motions], dim=1)

    def forward(self, source_image: torch.Tensor, driving: Regions, source: Regions,
                bg_params: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if self.down is not None:
            source_image = self.down(source_image)
        b, _, h, w = source_image.shape
        inputs = self.heatmap_representation((h, w), driving, source)
        motions = self.sparse_motions((h, w), driving, source, bg_params)
        if self.use_deformed_source:
            inputs = torch.cat([inputs, deform_sources(source_image, motions)], dim=2)
        features = self.hourglass(inputs.view(b, -1, h, w))
        mask = torch.softmax(self.mask(features), dim=1)
        out = {"optical_flow": combine_motions(motions, mask), "mask": mask}
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(features))
        return out


class Generator(GeneratorTrunk):
    """Encoder-decoder warping the bottleneck (and, with ``skips``, every encoder level and the
    output image) by the pixel-wise flow, filling occluded parts from the decoder stream."""

    def __init__(self, num_regions: int, num_channels: int, revert_axis_swap: bool, params: GeneratorParams) -> None:
        super().__init__(num_channels, params.block_expansion, params.max_features, params.num_down_blocks,
                         params.num_bottleneck_blocks)
        flow = params.pixelwise_flow_predictor_params
        self.pixelwise_flow_predictor = (PixelwiseFlowPredictor(num_regions, num_channels, revert_axis_swap, flow)
                                         if flow is not None else None)
        self.skips = params.skips

    @staticmethod
    def apply_optical(skip: torch.Tensor, previous: torch.Tensor | None, motion: dict[str, torch.Tensor] | None) -> torch.Tensor:
        """Warp ``skip`` by the flow; blend with ``previous`` by the occlusion map (visible -> warped)."""
        if motion is None:
            return previous if previous is not None else skip
        out = warp(skip, motion["optical_flow"])
        occlusion = motion.get("occlusion_map")
        if occlusion is None:
            return out
        occlusion = resize_like(occlusion, out)
        if previous is None:
            return out * occlusion
        return out * occlusion + previous * (1 - occlusion)

    def encode(self, source_image: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's outputs, first to deepest (the skips)."""
        skips = [self.first(source_image)]
        for block in self.down_blocks:
            skips.append(block(skips[-1]))
        return skips

    def forward(self, source_image: torch.Tensor, driving: Regions, source: Regions,
                bg_params: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        skips = once_per_source(self.encode, source_image)
        out = skips[-1]
        result: dict[str, torch.Tensor] = {}
        motion = None
        if self.pixelwise_flow_predictor is not None:
            motion = self.pixelwise_flow_predictor(source_image, driving, source, bg_params)
            result["deformed"] = warp(source_image, motion["optical_flow"])
            result["optical_flow"] = motion["optical_flow"]
            result["mask"] = motion["mask"]
            if "occlusion_map" in motion:
                result["occlusion_map"] = motion["occlusion_map"]
        out = self.bottleneck(self.apply_optical(out, None, motion))
        for i, block in enumerate(self.up_blocks):
            if self.skips:
                out = self.apply_optical(skips[-(i + 1)], out, motion)
            out = block(out)
        if self.skips:
            out = self.apply_optical(skips[0], out, motion)
        out = torch.sigmoid(self.final(out))
        if self.skips:
            out = self.apply_optical(source_image, out, motion)
        result["prediction"] = out
        return result


class AVDNetwork(nn.Module):
    """Animation via disentanglement: identity (shape) from the source regions, pose from the driving regions."""

    def __init__(self, num_regions: int, revert_axis_swap: bool, params: AVDParams) -> None:
        super().__init__()
        size = 6 * num_regions
        self.id_encoder = mlp([size, 256, 512, 1024, params.id_bottle_size])
        self.pose_encoder = mlp([size, 256, 512, 1024, params.pose_bottle_size])
        self.decoder = mlp([params.pose_bottle_size + params.id_bottle_size, 1024, 512, 256, size])
        self.num_regions = num_regions
        self.revert_axis_swap = revert_axis_swap

    @staticmethod
    def embed(params: Regions) -> torch.Tensor:
        shift, affine = params["shift"], params["affine"]
        return torch.cat([shift, affine.flatten(2)], dim=-1).flatten(1)

    def unembed(self, emb: torch.Tensor) -> Regions:
        emb = emb.view(emb.shape[0], self.num_regions, 6)
        affine = emb[:, :, 2:].reshape(emb.shape[0], self.num_regions, 2, 2)
        return {"shift": emb[:, :, :2], "affine": affine, "covar": torch.matmul(affine, affine.transpose(-1, -2))}

    def forward(self, x_id: Regions, x_pose: Regions) -> Regions:
        if self.revert_axis_swap:
            reference = source_to_driving_jacobian(x_id["affine"], x_pose["affine"])
            x_id = {"shift": x_id["shift"], "affine": revert_axis_swap(x_id["affine"], reference)}
        pose = self.pose_encoder(self.embed(x_pose))
        ident = self.id_encoder(self.embed(x_id))
        return self.unembed(self.decoder(torch.cat([pose, ident], dim=1)))
