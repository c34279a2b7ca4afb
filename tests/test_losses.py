"""Shared losses: VGG-19 perceptual loss, random TPS transform, equivariance terms."""
from __future__ import annotations

import pytest
import torch
from torchvision.models import vgg as tv_vgg

from bench.errors import MissingWeightsError, UserError
from bench.methods.blocks import make_coordinate_grid
from bench.methods.losses import (VGG19_WEIGHTS, PerceptualLoss, RandomTransform, Vgg19Features,
                                  jacobian_equivariance_loss, keypoint_equivariance_loss, pixel_l1_loss)


@pytest.fixture(scope="module")
def random_vgg_loss() -> PerceptualLoss:
    torch.manual_seed(0)
    return PerceptualLoss(pretrained=False)


@pytest.fixture(scope="module")
def two_scale_loss() -> PerceptualLoss:
    """Cheaper variant (scales 1 and 1/2) for properties that do not depend on the scale count."""
    torch.manual_seed(0)
    return PerceptualLoss(scales=(1.0, 0.5), pretrained=False)


def test_vgg_taps_match_torchvision_vgg19_loaded_from_a_checkpoint(tmp_path):
    torch.manual_seed(1)
    reference = tv_vgg.make_layers(tv_vgg.cfgs["E"]).eval()
    state = {f"features.{k}": v for k, v in reference.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # the real file holds the classifier too
    path = tmp_path / VGG19_WEIGHTS
    torch.save(state, path)
    ours = Vgg19Features(pretrained=True, weights_path=path)
    image = torch.rand(1, 3, 32, 32)
    x = (image - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = []
    with torch.no_grad():
        for i, layer in enumerate(reference):
            x = layer(x)
            if i in (1, 6, 11, 20, 29):  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
                expected.append(x.clone())
        got = ours(image)
    assert [g.shape[1] for g in got] == [64, 128, 256, 512, 512]
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)


def test_missing_vgg_weights_name_the_file_and_the_hub_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(MissingWeightsError, match=VGG19_WEIGHTS) as info:
        PerceptualLoss(pretrained=True)
    assert info.value.where == str(tmp_path / "checkpoints")


def test_corrupt_or_foreign_vgg_files_are_one_line_user_errors(tmp_path):
    corrupt = tmp_path / VGG19_WEIGHTS
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read VGG-19 weights"):
        Vgg19Features(weights_path=corrupt)
    foreign = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, foreign)
    with pytest.raises(UserError, match="not a VGG-19 checkpoint"):
        Vgg19Features(weights_path=foreign)


def test_perceptual_loss_zero_for_identical_images_positive_otherwise(two_scale_loss):
    a = torch.rand(2, 3, 32, 32)
    b = torch.rand(2, 3, 32, 32)
    assert two_scale_loss(a, a.clone()).item() == 0.0
    assert two_scale_loss(a, b).item() > 0.0


def test_perceptual_loss_sums_five_layers_at_four_scales(random_vgg_loss):
    a, b = torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128)
    pyramid_a, pyramid_b = random_vgg_loss.pyramid(a), random_vgg_loss.pyramid(b)
    assert [p.shape[-1] for p in pyramid_a] == [128, 64, 32, 16]
    expected = sum((fa - fb).abs().mean() for pa, pb in zip(pyramid_a, pyramid_b)
                   for fa, fb in zip(random_vgg_loss.vgg(pa), random_vgg_loss.vgg(pb)))
    torch.testing.assert_close(random_vgg_loss(a, b), expected)


def test_perceptual_loss_gradient_reaches_prediction_not_target(two_scale_loss):
    pred = torch.rand(1, 3, 32, 32, requires_grad=True)
    target = torch.rand(1, 3, 32, 32, requires_grad=True)
    two_scale_loss(pred, target).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert target.grad is None
    assert not any(p.requires_grad for p in two_scale_loss.parameters())


def test_perceptual_loss_skips_layers_after_the_last_nonzero_weight(two_scale_loss):
    torch.manual_seed(0)
    shallow = PerceptualLoss(scales=(1.0, 0.5), layer_weights=(2.0, 3.0, 0.0, 0.0, 0.0), pretrained=False)
    shallow.vgg.load_state_dict(two_scale_loss.vgg.state_dict())
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    assert shallow.depth == 2 and len(shallow.vgg(a, shallow.depth)) == 2
    expected = sum(w * (fa - fb).abs().mean() for pa, pb in zip(shallow.pyramid(a), shallow.pyramid(b))
                   for w, fa, fb in zip((2.0, 3.0), two_scale_loss.vgg(pa), two_scale_loss.vgg(pb)))
    torch.testing.assert_close(shallow(a, b), expected)
    off = PerceptualLoss(scales=(1.0,), layer_weights=(0.0,) * 5, pretrained=False)
    assert off.depth == 0 and off(a, b).item() == 0.0


def test_pixel_l1_is_weighted_mean_absolute_difference_with_target_detached():
    a = torch.rand(2, 3, 8, 8, requires_grad=True)
    b = torch.rand(2, 3, 8, 8, requires_grad=True)
    assert pixel_l1_loss(a, a.detach().clone(), 7.0).item() == 0.0
    value = pixel_l1_loss(a, b, 2.5)
    torch.testing.assert_close(value, 2.5 * (a - b).abs().mean())
    torch.testing.assert_close(value, 2.5 * (a - b).abs().sum() / a.numel())
    value.backward()
    assert a.grad is not None and a.grad.abs().sum() > 0 and b.grad is None


def test_perceptual_loss_rejects_images_too_small_for_its_coarsest_scale(random_vgg_loss):
    with pytest.raises(ValueError, match="too small"):
        random_vgg_loss(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))


def test_transform_with_zero_sigmas_keeps_points_and_zooms_frames_as_the_official_one():
    t = RandomTransform(2, sigma_affine=0.0, sigma_tps=0.0, points_tps=5)
    # the grid spans the pixel centres but grid_sample runs with align_corners=False (official
    # Transform.transform_frame): column i samples position i W / (W - 1) - 1/2, a zoom by (W - 1) / W
    h, w = 17, 23
    ramp = torch.arange(w, dtype=torch.float64).expand(2, 1, h, w)  # value = column index
    expected = torch.arange(w, dtype=torch.float64) * w / (w - 1) - 0.5
    torch.testing.assert_close(t.transform_frame(ramp)[..., 1:-1], expected[1:-1].expand(2, 1, h, -1))
    pts = torch.rand(2, 7, 2) * 2 - 1
    torch.testing.assert_close(t.warp_coordinates(pts), pts)
    torch.testing.assert_close(t.jacobian(pts), torch.eye(2).expand(2, 7, 2, 2))


def test_transform_jacobian_matches_finite_differences_with_tps():
    gen = torch.Generator().manual_seed(3)
    t = RandomTransform(3, sigma_affine=0.1, sigma_tps=0.05, points_tps=5, dtype=torch.float64, generator=gen)
    pts = torch.rand(3, 6, 2, dtype=torch.float64, generator=gen) * 1.6 - 0.8
    eps = 1e-6
    numeric = torch.stack([(t.warp_coordinates(pts + eps * e) - t.warp_coordinates(pts - eps * e)) / (2 * eps)
                           for e in torch.eye(2, dtype=torch.float64)], dim=-1)
    torch.testing.assert_close(t.jacobian(pts), numeric, rtol=1e-6, atol=1e-6)


def test_affine_only_transform_applies_theta_and_its_jacobian_is_constant():
    gen = torch.Generator().manual_seed(4)
    t = RandomTransform(2, sigma_affine=0.2, sigma_tps=0.0, points_tps=5, generator=gen)
    pts = torch.rand(2, 5, 2, generator=gen) * 2 - 1
    expected = pts @ t.theta[:, :, :2].transpose(1, 2) + t.theta[:, None, :, 2]
    torch.testing.assert_close(t.warp_coordinates(pts), expected)
    torch.testing.assert_close(t.jacobian(pts), t.theta[:, None, :, :2].expand(2, 5, 2, 2))


def _blob_image(kp: torch.Tensor, size: int, sigma: float = 0.08) -> torch.Tensor:
    """One Gaussian blob per channel at each keypoint (``B x K x 2`` -> ``B x K x H x W``)."""
    grid = make_coordinate_grid((size, size))
    d2 = ((grid.view(1, 1, size, size, 2) - kp.view(*kp.shape[:2], 1, 1, 2)) ** 2).sum(-1)
    return torch.exp(-0.5 * d2 / sigma ** 2)


def _centroid_detector(image: torch.Tensor) -> torch.Tensor:
    """Intensity centroid per channel: commutes with affine maps (up to sampling error)."""
    grid = make_coordinate_grid(image.shape[2:])
    weights = image / image.sum(dim=(2, 3), keepdim=True)
    return (weights.unsqueeze(-1) * grid).sum(dim=(2, 3))


def test_keypoint_equivariance_loss_vanishes_for_an_equivariant_detector():
    gen = torch.Generator().manual_seed(5)
    kp = torch.rand(2, 4, 2, generator=gen) * 0.8 - 0.4
    t = RandomTransform(2, sigma_affine=0.1, sigma_tps=0.0, points_tps=5, generator=gen)
    image = _blob_image(kp, 128)
    kp_image = _centroid_detector(image)
    kp_transformed = _centroid_detector(t.transform_frame(image))
    assert keypoint_equivariance_loss(kp_image, kp_transformed, t).item() < 2e-3
    # a detector that ignores the transform (or maps it the wrong way round) is penalised
    assert keypoint_equivariance_loss(kp_image, kp_image, t).item() > 2e-2
    inverse_direction = keypoint_equivariance_loss(t.warp_coordinates(kp_image), kp_transformed, t)
    assert inverse_direction.item() > 2e-2


def test_jacobian_equivariance_loss_vanishes_for_consistent_jacobians():
    gen = torch.Generator().manual_seed(6)
    t = RandomTransform(2, sigma_affine=0.2, sigma_tps=0.0, points_tps=5, generator=gen)
    jac = torch.eye(2) + 0.3 * torch.randn(2, 3, 2, 2, generator=gen)
    kp_transformed = torch.rand(2, 3, 2, generator=gen) * 2 - 1
    # under z -> A z + b a local frame J of the original appears as A^-1 J in the transformed image
    jac_transformed = torch.linalg.inv(t.theta[:, None, :, :2]) @ jac
    assert jacobian_equivariance_loss(jac, jac_transformed, kp_transformed, t).item() < 1e-5
    assert jacobian_equivariance_loss(jac, jac, kp_transformed, t).item() > 1e-2
