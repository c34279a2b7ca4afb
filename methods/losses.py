"""Training losses shared by the methods.

* :class:`PerceptualLoss`: multi-scale perceptual reconstruction loss on VGG-19 features
  (SADM Eq. 7; the FOMM / MRAA reconstruction loss): 5 layers (relu1_1 .. relu5_1) at
  4 image scales (1, 1/2, 1/4, 1/8), ImageNet-normalised inputs.
* :class:`RandomTransform`: the random affine + thin-plate-spline warp of FOMM's
  equivariance constraint, applied to images and to coordinates, with its Jacobian.
* :func:`pixel_l1_loss`: optional weighted mean |prediction - target| (off in the official
  configs; the tiny offline presets use it because a random-weight VGG is a weak signal).
* :func:`keypoint_equivariance_loss` (SADM Eq. 8) and :func:`jacobian_equivariance_loss`
  (FOMM's Jacobian term; also MRAA's affine term).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import ConfigError, MissingWeightsError, UserError
from bench.methods.blocks import ALIGN_CORNERS, AntiAliasInterpolation2d, make_coordinate_grid

#: file name of torchvision's ImageNet VGG-19 weights in the torch hub cache
VGG19_WEIGHTS = "vgg19-dcbb9e9d.pth"
#: VGG-19 convolution widths up to conv5_1 ("M" = 2x2 max pooling), torchvision layout
_VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512)
#: end index (exclusive) in ``vgg19().features`` of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
_VGG19_TAPS = (2, 7, 12, 21, 30)
#: smallest image side that survives the four 2x2 poolings before relu5_1
_VGG19_MIN_SIZE = 16
#: seed of the random VGG-19 weights (``pretrained=False``)
RANDOM_VGG_SEED = 0
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_weights_path() -> Path:
    """Where torchvision caches the ImageNet VGG-19 weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_WEIGHTS


def _vgg19_trunk() -> nn.Sequential:
    """``torchvision.models.vgg19().features[:30]`` (same indices, so its state-dict keys load)."""
    layers: list[nn.Module] = []
    channels = 3
    for item in _VGG19_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, int(item), kernel_size=3, padding=1), nn.ReLU()]
            channels = int(item)
    return nn.Sequential(*layers)


class Vgg19Features(nn.Module):
    """Frozen VGG-19 returning relu1_1 .. relu5_1 of an image in [0, 1].

    ``pretrained=False`` keeps random weights (tests, tiny presets), the same ones every time
    (seed :data:`RANDOM_VGG_SEED`); otherwise the ImageNet weights are read from ``weights_path``
    (default: the torchvision hub cache). Building it leaves the global RNG untouched, so a loss
    built on first use does not shift a training run's random stream (exact resume).
    """

    def __init__(self, pretrained: bool = True, weights_path: str | Path | None = None) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_VGG_SEED)
            trunk = _vgg19_trunk()
        if pretrained:
            path = Path(weights_path) if weights_path else vgg19_weights_path()
            try:
                trunk.load_state_dict(_load_vgg19_features(path))
            except RuntimeError as exc:  # a different network's checkpoint
                raise UserError(f"{path} is not a VGG-19 checkpoint: {str(exc).splitlines()[0]}") from None
        starts = (0,) + _VGG19_TAPS[:-1]
        self.slices = nn.ModuleList(trunk[a:b] for a, b in zip(starts, _VGG19_TAPS))
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "Vgg19Features":
        """Always stays in eval mode (frozen feature extractor)."""
        return super().train(False)

    def forward(self, image: torch.Tensor, depth: int | None = None) -> list[torch.Tensor]:
        """The first ``depth`` taps (all five by default); deeper layers are not computed."""
        out = []
        x = (image - self.mean) / self.std
        for block in self.slices[:depth]:
            x = block(x)
            out.append(x)
        return out


def _load_vgg19_features(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise MissingWeightsError("VGG-19 perceptual loss", path.name, path.parent,
                                  f"torchvision's ImageNet weights, https://download.pytorch.org/models/{VGG19_WEIGHTS}; "
                                  "tests and tiny presets use random weights (pretrained_vgg: false)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or not a torch file: one line for the user
        raise UserError(f"cannot read VGG-19 weights {path}: {type(exc).__name__}") from None
    if not isinstance(state, dict):
        raise UserError(f"{path} is not a VGG-19 state dict")
    prefix = "features."
    keep = {k[len(prefix):]: v for k, v in state.items()
            if k.startswith(prefix) and int(k[len(prefix):].split(".")[0]) < _VGG19_TAPS[-1]}
    return keep


class ImagePyramid(nn.Module):
    """The image at several scales, each downsampled with an anti-aliasing Gaussian."""

    def __init__(self, scales: Sequence[float], channels: int = 3) -> None:
        super().__init__()
        self.scales = tuple(float(s) for s in scales)
        self.downs = nn.ModuleList(AntiAliasInterpolation2d(channels, s) for s in self.scales)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        return [down(image) for down in self.downs]


@dataclass
class PerceptualLossParams:
    """The perceptual-loss settings FOMM, MRAA, TPSMM and SADM share (the official ``train_params`` names):
    image-pyramid ``scales``, VGG-19 layer weights ``perceptual`` (relu1_1 .. relu5_1), ``pixel_l1`` (ours:
    weight of mean |prediction - driving|, 0 = off as in the official configs, used by the tiny presets),
    ``pretrained_vgg`` (false: a random VGG, tests and offline presets) and ``vgg_weights`` (a file)."""

    scales: list[float] = field(default_factory=lambda: [1.0, 0.5, 0.25, 0.125])
    perceptual: list[float] = field(default_factory=lambda: [10.0, 10.0, 10.0, 10.0, 10.0])
    pixel_l1: float = 0.0
    pretrained_vgg: bool = True
    vgg_weights: str | None = None

    def validate(self, prefix: str = "losses") -> None:
        """Values the loss cannot run with, named by their config key."""
        if len(self.perceptual) != len(_VGG19_TAPS):
            raise ConfigError(f"config key '{prefix}.perceptual': needs {len(_VGG19_TAPS)} weights (relu1_1 .. "
                              f"relu5_1), got {self.perceptual}")
        if not self.scales or any(not 0 < s <= 1 for s in self.scales):
            raise ConfigError(f"config key '{prefix}.scales': needs pyramid scales in (0, 1], got {self.scales}")


class PerceptualLoss(nn.Module):
    """Multi-scale VGG-19 perceptual loss: sum over scales and layers of weighted mean |V(x) - V(y)|.

    The target features are detached, as in FOMM's reconstruction loss. Layers after the last
    non-zero weight are not computed (and all-zero weights skip VGG entirely). ``signed_input``: images
    in [-1, 1] (LIA's ``vgg19.VGGLoss``): the pyramid is built on them as they are, then each scale is
    clamped to [-1, 1] and mapped to [0, 1] (``x / 2 + 0.5``) before VGG.
    """

    def __init__(self, scales: Sequence[float] = (1.0, 0.5, 0.25, 0.125),
                 layer_weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0, 1.0),
                 pretrained: bool = True, weights_path: str | Path | None = None, signed_input: bool = False) -> None:
        super().__init__()
        self.signed_input = signed_input
        if len(layer_weights) != len(_VGG19_TAPS):
            raise ValueError(f"layer_weights needs {len(_VGG19_TAPS)} values, got {len(layer_weights)}")
        self.layer_weights = tuple(float(w) for w in layer_weights)
        self.depth = max((i + 1 for i, w in enumerate(self.layer_weights) if w), default=0)
        self.pyramid = ImagePyramid(scales)
        self.vgg = Vgg19Features(pretrained=pretrained, weights_path=weights_path)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = prediction.new_zeros(())
        if self.depth == 0:
            return total
        smallest = min(prediction.shape[-2:]) * min(self.pyramid.scales)
        if smallest < _VGG19_MIN_SIZE:
            raise ValueError(f"images of {tuple(prediction.shape[-2:])} are too small for scale "
                             f"{min(self.pyramid.scales)}: VGG-19 up to relu5_1 needs {_VGG19_MIN_SIZE} pixels")
        for pred_s, target_s in zip(self.pyramid(prediction), self.pyramid(target)):
            if self.signed_input:
                pred_s, target_s = pred_s.clamp(-1, 1) / 2 + 0.5, target_s.clamp(-1, 1) / 2 + 0.5
            pairs = zip(self.layer_weights, self.vgg(pred_s, self.depth), self.vgg(target_s, self.depth))
            for w, fp, ft in pairs:
                total = total + w * (fp - ft.detach()).abs().mean()
        return total


def pixel_l1_loss(prediction: torch.Tensor, target: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """``weight`` x mean |prediction - target| over all pixels (target detached)."""
    return weight * (prediction - target.detach()).abs().mean()


@dataclass
class TransformParams:
    """Parameters of :class:`RandomTransform` (the equivariance losses' known transform)."""
    sigma_affine: float = 0.05
    sigma_tps: float = 0.005
    points_tps: int = 5


class RandomTransform:
    """A random affine transform followed by a thin-plate-spline perturbation (per sample).

    Coordinates are in [-1, 1] (x first). ``warp_coordinates`` maps a point of the transformed
    image to the point of the original image it shows; ``transform_frame`` resamples an image
    accordingly, so a detector that is equivariant satisfies
    ``warp_coordinates(kp(transform_frame(I))) == kp(I)``.
    """

    def __init__(self, batch_size: int, sigma_affine: float, sigma_tps: float, points_tps: int,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32,
                 generator: torch.Generator | None = None) -> None:
        def normal(*shape: int, std: float) -> torch.Tensor:
            return torch.randn(*shape, generator=generator, dtype=dtype, device=device) * std

        self.theta = normal(batch_size, 2, 3, std=sigma_affine) + torch.eye(2, 3, dtype=dtype, device=device)
        self.use_tps = sigma_tps > 0 and points_tps > 0
        if self.use_tps:
            grid = make_coordinate_grid((points_tps, points_tps), dtype)
            self.control_points = grid.to(device).reshape(1, 1, -1, 2)
            self.control_params = normal(batch_size, 1, points_tps ** 2, std=sigma_tps)

    def warp_coordinates(self, coords: torch.Tensor) -> torch.Tensor:
        """``B x P x 2`` points -> their images under the transform."""
        theta = self.theta.to(coords)[:, None]  # B x 1 x 2 x 3, applied per point as the official matmul
        out = (torch.matmul(theta[..., :2], coords.unsqueeze(-1)) + theta[..., 2:]).squeeze(-1)
        if self.use_tps:
            dist = (coords[:, :, None, :] - self.control_points.to(coords)).abs().sum(-1)
            radial = dist ** 2 * torch.log(dist + 1e-6) * self.control_params.to(coords)
            out = out + radial.sum(-1, keepdim=True)
        return out

    def transform_frame(self, frame: torch.Tensor) -> torch.Tensor:
        """Resample ``B x C x H x W`` images through the transform (reflection padding).

        As the official ``Transform.transform_frame`` (FOMM / MRAA ``modules/model.py``): the grid
        spans the pixel centres (``make_coordinate_grid``) but ``grid_sample`` runs with PyTorch's
        default ``align_corners=False``, so the target carries a slight zoom ((W-1)/W) that the
        official equivariance losses include.
        """
        b, _, h, w = frame.shape
        grid = make_coordinate_grid((h, w), frame.dtype).to(frame.device).reshape(1, h * w, 2).expand(b, -1, -1)
        grid = self.warp_coordinates(grid).reshape(b, h, w, 2)
        return F.grid_sample(frame, grid, padding_mode="reflection", align_corners=ALIGN_CORNERS)

    def jacobian(self, coords: torch.Tensor) -> torch.Tensor:
        """``B x P x 2 x 2`` Jacobian of ``warp_coordinates`` at ``coords`` (differentiable)."""
        if not coords.requires_grad:
            coords = coords.detach().requires_grad_(True)
        with torch.enable_grad():
            warped = self.warp_coordinates(coords)
            rows = [torch.autograd.grad(warped[..., k].sum(), coords, create_graph=True)[0] for k in range(2)]
        return torch.stack(rows, dim=-2)


def keypoint_equivariance_loss(kp: torch.Tensor, kp_transformed: torch.Tensor,
                               transform: RandomTransform) -> torch.Tensor:
    """Eq. 8: mean |kp(I) - T(kp(T o I))| for keypoints ``B x K x 2``."""
    return (kp - transform.warp_coordinates(kp_transformed)).abs().mean()


def jacobian_equivariance_loss(jacobian: torch.Tensor, jacobian_transformed: torch.Tensor,
                               kp_transformed: torch.Tensor, transform: RandomTransform,
                               axis_sign: bool = False) -> torch.Tensor:
    """FOMM's Jacobian term (MRAA's affine term): mean |I - J(I)^-1 . dT(kp') . J(T o I)| for
    ``B x K x 2 x 2`` Jacobians. ``axis_sign`` (MRAA's ``revert_axis_swap``): PCA axes are defined
    up to sign, so the product is first multiplied by the sign of its top-left entry."""
    mapped = transform.jacobian(kp_transformed) @ jacobian_transformed
    value = torch.linalg.inv(jacobian) @ mapped
    if axis_sign:
        value = value * torch.sign(value[:, :, 0:1, 0:1])
    eye = torch.eye(2, dtype=value.dtype, device=value.device)
    return (eye - value).abs().mean()


# ----------------------------------------------------------------------------- AVD stage (MRAA, TPSMM)

def random_pose_scale(pose: Mapping[str, torch.Tensor], random_scale: float) -> dict[str, torch.Tensor]:
    """Official ``train_avd.random_scale`` (MRAA's and TPSMM's): per sample ``theta ~ U(1 - s, 1 + s)^2``
    (``torch.rand`` on the CPU, then moved), every pose tensor (``B x N x 2`` points, ``B x N x 2 x 2``
    affines) multiplied by ``diag(theta)`` on its dimension 2."""
    first = next(iter(pose.values()))
    theta = (torch.rand(first.shape[0], 2) * (2 * random_scale) + (1 - random_scale)).to(first)
    return {key: theta.view(len(theta), 1, 2, *(1,) * (value.dim() - 3)) * value for key, value in pose.items()}


def avd_stage_losses(detector: nn.Module, avd_network: nn.Module, batch: Mapping[str, torch.Tensor],
                     random_scale: float, terms: Mapping[str, str]) -> dict[str, torch.Tensor]:
    """The AVD stage's losses (official ``train_avd.py`` of MRAA and TPSMM): the source's and the driving
    frame's motion parameters from ``detector`` under ``no_grad`` in whatever mode it is (train mode while
    training, as the official never calls ``eval()``: BatchNorm uses each batch's statistics), the driving
    pose randomly rescaled (:func:`random_pose_scale`), then for each ``terms`` entry (loss name -> motion
    key) mean |driving - AVD(source, pose)|, unweighted (the strategy's ``loss_weights`` are the official
    ``lambda_*``)."""
    with torch.no_grad():
        identity = detector(batch["source"])
        target = detector(batch["driving"])
        pose = random_pose_scale({key: target[key] for key in terms.values()}, random_scale)
    rebuilt = avd_network(identity, pose)
    return {loss: (target[key] - rebuilt[key]).abs().mean() for loss, key in terms.items()}


class PerceptualTerm:
    """The perceptual loss of :class:`PerceptualLossParams`, built on first use and kept out of the method's
    parameters and ``state_dict`` (it is frozen and not part of the checkpoint)."""

    def __init__(self, params: PerceptualLossParams, signed_input: bool = False) -> None:
        self.params = params
        self.signed_input = signed_input  # images in [-1, 1] (LIA), else [0, 1]
        self._loss: PerceptualLoss | None = None

    def module(self) -> PerceptualLoss:
        """The loss module (built on first use)."""
        if self._loss is None:
            p = self.params
            self._loss = PerceptualLoss(p.scales, p.perceptual, pretrained=p.pretrained_vgg, weights_path=p.vgg_weights,
                                        signed_input=self.signed_input)
        return self._loss

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self._loss = self.module().to(device=prediction.device, dtype=prediction.dtype)
        return self._loss(prediction, target)
