"""Where the pretrained weights of the metric backbones live, and how they are found.

Every file is looked up first in ``--weights-dir`` (directly or in its ``checkpoints/``
sub-folder), then in its standard cache: torch hub checkpoints (``torch.hub.get_dir()/checkpoints``:
Inception, AlexNet/VGG, FAN, S3FD, Keypoint R-CNN, OSNet), insightface's model folder
(``~/.insightface/models/<pack>``) or the ``face_recognition_models`` package (dlib models).
Nothing is downloaded unless the caller passes ``allow_download=True``; a missing file raises
:class:`~bench.errors.MissingWeightsError` naming the file and where to put it.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.errors import MissingWeightsError, UserError


@dataclass(frozen=True)
class WeightFile:
    """One pretrained file: what uses it, its name, its cache and (when public) its URL."""

    what: str
    filename: str
    cache: str  # 'torch_hub', 'insightface:<pack>' or 'face_recognition_models'
    url: str = ""
    hint: str = ""


INCEPTION_FID = WeightFile(
    "FID InceptionV3 (pytorch-fid)", "pt_inception-2015-12-05-6726825d.pth", "torch_hub",
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth")
ALEXNET = WeightFile("LPIPS AlexNet backbone (torchvision)", "alexnet-owt-7be5be79.pth", "torch_hub",
                     "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth")
VGG16 = WeightFile("LPIPS VGG16 backbone (torchvision)", "vgg16-397923af.pth", "torch_hub",
                   "https://download.pytorch.org/models/vgg16-397923af.pth")
FAN_2D = WeightFile("face-alignment 2D FAN", "2DFAN4-11f355bf06.pth.tar", "torch_hub",
                    "https://www.adrianbulat.com/downloads/python-fan/2DFAN4-11f355bf06.pth.tar")
S3FD = WeightFile("face-alignment S3FD face detector", "s3fd-619a316812.pth", "torch_hub",
                  "https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth")
KEYPOINT_RCNN = WeightFile(
    "torchvision Keypoint R-CNN (COCO 17 keypoints)", "keypointrcnn_resnet50_fpn_coco-fc266e95.pth", "torch_hub",
    "https://download.pytorch.org/models/keypointrcnn_resnet50_fpn_coco-fc266e95.pth")
OPENPOSE_BODY = WeightFile(
    "pose-evaluation OpenPose body (rtpose_vgg19)", "pose_model.pth", "torch_hub",
    hint="pose-evaluation's pose_estimation/network/weight/pose_model.pth (the rtpose_vgg get_model('vgg19') "
         "state_dict, linked from AliaksandrSiarohin/pose-evaluation's README: https://yadi.sk/d/0L-PgAaGRKgkJA), "
         "under this file name")
REID_BODY = WeightFile(
    "pose-evaluation body re-identification (Person_reID_baseline ft_net ResNet-50)", "reid_model.pth", "torch_hub",
    hint="pose-evaluation's reid_baseline/reid_model.pth (ft_net(751) trained on Market-1501, linked from "
         "AliaksandrSiarohin/pose-evaluation's README: https://yadi.sk/d/jAPhvFEFp6qzIw), under this file name")
OSNET = WeightFile("torchreid OSNet x1.0 person re-identification", "osnet_x1_0_msmt17.pth", "torch_hub",
                   hint="a torchreid model-zoo osnet_x1_0 ReID checkpoint (e.g. trained on MSMT17 or Market1501), "
                        "renamed to this file name")
ARCFACE_PACK = "buffalo_l"
ARCFACE = WeightFile("insightface ArcFace recognition (buffalo_l pack)", "w600k_r50.onnx",
                     f"insightface:{ARCFACE_PACK}",
                     hint="unzip insightface's buffalo_l.zip there; the pack's detector det_10g.onnx is needed too")
ARCFACE_DETECTOR = WeightFile("insightface SCRFD face detector (buffalo_l pack)", "det_10g.onnx",
                              f"insightface:{ARCFACE_PACK}", hint="part of insightface's buffalo_l.zip")
DLIB_LANDMARKS_68 = WeightFile("dlib 68-point shape predictor", "shape_predictor_68_face_landmarks.dat",
                               "face_recognition_models", hint="pip install face-recognition-models")
DLIB_LANDMARKS_5 = WeightFile("dlib 5-point shape predictor", "shape_predictor_5_face_landmarks.dat",
                              "face_recognition_models", hint="pip install face-recognition-models")
DLIB_FACE_EMBEDDING = WeightFile("dlib face recognition ResNet", "dlib_face_recognition_resnet_model_v1.dat",
                                 "face_recognition_models", hint="pip install face-recognition-models")
I3D_FVD = WeightFile(
    "FVD I3D (StyleGAN-V's TorchScript port of the TF-Hub Kinetics-400 I3D)", "i3d_torchscript.pt", "torch_hub",
    "https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1",
    hint="the detector of universome/stylegan-v src/metrics/frechet_video_distance.py "
         "(https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1), under this file name")


def import_dlib():  # noqa: ANN201 - dlib has no type stubs
    """The ``dlib`` module, or a one-line error saying how to install the offline dlib backends."""
    try:
        import dlib
    except ImportError:
        raise UserError("the dlib backends need 'pip install dlib-bin face-recognition-models'") from None
    return dlib


def torch_hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def insightface_models() -> Path:
    return Path("~/.insightface/models").expanduser()


def face_recognition_models_dir() -> Path | None:
    """The ``models`` folder of the face_recognition_models package, found without importing it
    (its ``__init__`` needs ``pkg_resources``)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def cache_dir(weight: WeightFile) -> Path | None:
    """The standard folder of ``weight`` (None when its package is not installed)."""
    if weight.cache == "torch_hub":
        return torch_hub_checkpoints()
    if weight.cache.startswith("insightface:"):
        return insightface_models() / weight.cache.split(":", 1)[1]
    if weight.cache == "face_recognition_models":
        return face_recognition_models_dir()
    raise ValueError(f"unknown weight cache {weight.cache!r}")


def candidates(weight: WeightFile, weights_dir: str | Path | None = None) -> list[Path]:
    """Paths searched for ``weight``, in order."""
    paths: list[Path] = []
    if weights_dir is not None:
        root = Path(weights_dir).expanduser()
        paths += [root / weight.filename, root / "checkpoints" / weight.filename]
        if weight.cache.startswith("insightface:"):
            paths.append(root / weight.cache.split(":", 1)[1] / weight.filename)
    standard = cache_dir(weight)
    if standard is not None:
        paths.append(standard / weight.filename)
    return paths


def find(weight: WeightFile, weights_dir: str | Path | None = None) -> Path | None:
    """The first existing candidate path of ``weight``, or None."""
    return next((p for p in candidates(weight, weights_dir) if p.is_file()), None)


def resolve(weight: WeightFile, weights_dir: str | Path | None = None, allow_download: bool = False) -> Path:
    """Path of ``weight`` on disk; downloads it into its cache only when allowed and it has a URL."""
    found = find(weight, weights_dir)
    if found is not None:
        return found
    target = cache_dir(weight)
    if allow_download and weight.url and target is not None:
        target.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(weight.url, str(target / weight.filename), progress=False)
        return target / weight.filename
    where = " or ".join(str(p.parent) for p in candidates(weight, weights_dir)[-1:]) or "--weights-dir"
    if weights_dir is not None:
        where = f"{Path(weights_dir).expanduser()} (--weights-dir) or {where}"
    hint = weight.hint or (f"download {weight.url}; or pass --allow-download" if weight.url else "")
    raise MissingWeightsError(weight.what, weight.filename, where, hint)

