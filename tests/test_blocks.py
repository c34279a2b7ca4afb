"""Shared blocks: coordinate conventions, heatmaps, warping and the hourglass shapes."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.methods import build_method
from bench.methods.blocks import (AntiAliasInterpolation2d, Hourglass, combine_motions, heatmap_to_mean,
                                  kp2gaussian, local_affine_motions, make_coordinate_grid, region2gaussian,
                                  resize_grid, warp)
from bench.methods.presets import load_model_params


def identity_grid(b: int, h: int, w: int) -> torch.Tensor:
    """grid_sample's identity for align_corners=False (pixel centres)."""
    theta = torch.eye(2, 3).expand(b, 2, 3)
    return F.affine_grid(theta, (b, 1, h, w), align_corners=False)


def test_coordinate_grid_spans_minus_one_to_one_x_first():
    grid = make_coordinate_grid((3, 5))
    assert grid.shape == (3, 5, 2)
    assert torch.equal(grid[0, 0], torch.tensor([-1.0, -1.0]))
    assert torch.equal(grid[-1, -1], torch.tensor([1.0, 1.0]))
    assert torch.equal(grid[0, :, 0], torch.linspace(-1, 1, 5))  # x varies along width
    assert torch.equal(grid[:, 0, 1], torch.linspace(-1, 1, 3))  # y along height


def test_gaussian_heatmap_peaks_at_keypoint_and_matches_isotropic_covariance():
    grid = make_coordinate_grid((9, 9))
    kp = torch.stack([grid[2, 6], grid[7, 1]]).unsqueeze(0)  # 1 x 2 x 2
    heat = kp2gaussian(kp, (9, 9), 0.01)
    assert heat.shape == (1, 2, 9, 9)
    assert heat[0, 0, 2, 6] == 1 and heat[0, 1, 7, 1] == 1
    assert heat[0, 0].argmax() == 2 * 9 + 6
    covar = 0.01 * torch.eye(2).expand(1, 2, 2, 2)
    torch.testing.assert_close(region2gaussian(kp, covar, (9, 9)), heat)


def test_heatmap_mean_of_a_delta_is_that_pixel_coordinate():
    heat = torch.zeros(1, 1, 6, 7)
    heat[0, 0, 4, 2] = 1
    torch.testing.assert_close(heatmap_to_mean(heat)[0, 0], make_coordinate_grid((6, 7))[4, 2])


def test_antialias_keeps_constants_and_has_normalised_kernel():
    down = AntiAliasInterpolation2d(3, 0.25)
    assert down.weight.shape == (3, 1, 13, 13)
    torch.testing.assert_close(down.weight.sum(dim=(1, 2, 3)), torch.ones(3))
    out = down(torch.full((1, 3, 64, 64), 0.7))
    assert out.shape == (1, 3, 16, 16)
    torch.testing.assert_close(out[..., 2:-2, 2:-2], torch.full_like(out[..., 2:-2, 2:-2], 0.7))
    assert AntiAliasInterpolation2d(3, 1.0)(out) is out


def test_warp_by_identity_is_exact_and_grid_is_resized_to_features():
    x = torch.rand(2, 4, 8, 8)
    torch.testing.assert_close(warp(x, identity_grid(2, 8, 8)), x)
    shift = torch.tensor([0.25, -0.5]).view(1, 1, 1, 2)
    coarse = identity_grid(2, 4, 4) * 0 + shift  # constant sampling position
    fine = resize_grid(coarse, (8, 8))
    torch.testing.assert_close(fine, shift.expand(2, 8, 8, 2))
    torch.testing.assert_close(warp(x, coarse), warp(x, fine))


def test_first_order_motion_is_identity_when_keypoints_coincide():
    grid = make_coordinate_grid((5, 6))
    kp = torch.rand(2, 3, 2) * 2 - 1
    eye = torch.eye(2).expand(2, 3, 2, 2)
    motions = local_affine_motions(grid, kp, kp, eye)
    torch.testing.assert_close(motions, grid.expand(2, 3, 5, 6, 2))
    # a pure translation moves every point by kp_s - kp_d
    moved = local_affine_motions(grid, kp, kp + 0.1, None)
    torch.testing.assert_close(moved - grid, torch.full_like(moved, 0.1))


def test_combined_motion_is_the_mask_weighted_sum():
    motions = torch.rand(1, 3, 4, 4, 2)
    mask = torch.softmax(torch.rand(1, 3, 4, 4), dim=1)
    expected = sum(motions[:, k] * mask[:, k, ..., None] for k in range(3))
    torch.testing.assert_close(combine_motions(motions, mask), expected)


def test_hourglass_output_channels_and_resolution():
    net = Hourglass(block_expansion=8, in_features=5, num_blocks=3, max_features=32)
    assert net.out_filters == 13
    assert net(torch.rand(2, 5, 32, 32)).shape == (2, 13, 32, 32)
    widths = [tuple(b.conv.weight.shape[:2]) for b in net.decoder.up_blocks]
    assert widths == [(32, 32), (16, 64), (8, 32)]


@pytest.mark.parametrize("method, detector, atol", [
    ("fomm", "kp_detector", 1e-6),
    ("mraa", "region_predictor", 1e-4),  # float32 rounding of a batch-1 vs batch-3 SVD, amplified by the warp
    ("tpsmm", "kp_detector", 1e-4),  # the TPS solve (torch.linalg) at batch 1 vs 3 rounds differently
])
def test_a_shared_source_is_run_once_with_the_same_frames(method, detector, atol):
    """Evaluation broadcasts one source over a batch: what depends on it alone (keypoints or regions, their
    flattened factors included, and its encoding) is computed once, as the official reconstruction.py computes
    kp_source once per video; the frames equal per-row computation."""
    torch.manual_seed(0)
    model = build_method(method, load_model_params(method, "vox")).eval()
    source, driving = torch.rand(1, 3, 128, 128), torch.rand(3, 3, 128, 128)
    calls = []
    getattr(model, detector).register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    with torch.no_grad():
        shared = model.generate(source.expand(3, -1, -1, -1), driving)
        assert sorted(calls) == [1, 3]  # the source once, the driving frames
        per_row = model.generate(source.repeat(3, 1, 1, 1), driving)
    torch.testing.assert_close(shared, per_row, atol=atol, rtol=0)
