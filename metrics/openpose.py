"""OpenPose body keypoints exactly as pose-evaluation's ``extract_body_pose`` computes them.

The FOMM / MRAA / TPSMM / SADM papers measure body AKD and MKR with
AliaksandrSiarohin/pose-evaluation (commit 1bc4cae) ``extract.py::extract_body_pose``. It runs the
``rtpose_vgg`` network (CMU OpenPose, VGG19 trunk + 6 two-branch stages) of
AliaksandrSiarohin/pytorch_Realtime_Multi-Person_Pose_Estimation (the ``pose_estimation`` submodule,
commit 257d8b4f2bd6b050f8f0ee580f02fb2ba96d3611, a fork of tensorboy's repository):
``network/rtpose_vgg.py`` (``get_model('vgg19')``), ``network/im_transform.py`` (``crop_with_factor``),
``training/datasets/coco_data/preprocessing.py`` (``rtpose_preprocess``), ``evaluate/coco_eval.py``
(``get_multiplier``, ``get_outputs``, ``handle_paf_and_heat``) and ``network/post.py``
(``decode_pose``). This module re-implements that pipeline; the official ``pose_model.pth`` loads
into :class:`RtPoseVGG` with ``strict=True``.

Per frame (uint8 RGB from frames2array):

1. RGB -> BGR; ``multiplier = [368 / H]`` (one scale);
2. ``crop_with_factor``: ``cv2.resize`` by ``368 / min(H, W)`` (INTER_LINEAR on uint8), zero padding
   at the bottom/right to a multiple of 8; input ``float32(u8) / 256 - 0.5``;
3. network -> PAF (38 ch) and heatmaps (19 ch) at 1/8; each is resized x8 (INTER_CUBIC), cropped to
   the unpadded size and resized to the frame size (INTER_CUBIC), then accumulated in float64;
4. the same for the horizontally flipped frame; ``handle_paf_and_heat`` flips it back, negates the
   x components (even PAF channels), swaps left/right channels and averages;
5. ``decode_pose`` with ``thre1 = 0.1``, ``thre2 = 0.05`` (``thre3`` is never used);
6. extract.py ignores the people and keeps, per joint type, the LAST peak of ``joint_list``.

Quirks reproduced on purpose:

* NMS peaks are pixels equal to the 3x3-cross ``maximum_filter`` and ``> 0.1``: a plateau of equal
  pixels yields several peaks; each is refined to the first argmax of its 5x5 window, which can
  move it onto a neighbour and duplicate rows of ``joint_list``.
* limb sampling uses ``np.round(np.linspace(...))`` at 10 points (round half to even), the PAF score
  is ``intermed_paf.dot(unit_dir)`` (same array layout as the official code, so the same BLAS path),
  candidates are ordered with Python's stable sort.
* grouping merges two people that share no joint by summing their counters (the count can end up
  below the number of parts); people with ``count < 3`` or ``score / count < 0.2`` are deleted.
* the 18x2 output mixes joints of different people (or of no person): last peak per type wins, -1
  where a type has no peak at all.

Differences: empty results come back as ``(0, 5)`` / ``(0, 20)`` arrays instead of the official
``np.array([])`` (shape ``(0,)``); ``handle_paf_and_heat`` does not mutate its ``flip_paf`` argument
(the official one negates it in place, unobserved by extract.py); the official pipeline ran on CUDA
(no TF32 on its GPUs), so on CUDA the forward pass runs with cuDNN's fp32 convolutions set to IEEE.
Drawing (``plot_pose``) is skipped: extract.py discards it.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from scipy.ndimage import generate_binary_structure, maximum_filter
from torch import nn

from bench import weights

NUM_JOINTS = 18
#: joint types of each limb (post.joint_to_limb_heatmap_relationship)
LIMB_JOINTS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
               (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17))
#: PAF (x, y) channels of each limb (post.paf_xy_coords_per_limb)
LIMB_PAF = ((12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5), (6, 7), (8, 9),
            (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19), (26, 27))
NUM_LIMBS = len(LIMB_JOINTS)
#: left/right channel swaps of coco_eval.handle_paf_and_heat
SWAP_HEAT = np.array((0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16, 18))
SWAP_PAF = np.array((6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 20, 21, 22, 23, 24, 25, 26, 27, 12, 13, 14, 15, 16, 17,
                     18, 19, 28, 29, 32, 33, 30, 31, 36, 37, 34, 35))
BOX_SIZE = 368
STRIDE = 8
THRE1 = 0.1   # heatmap peak threshold
THRE2 = 0.05  # PAF sample threshold
NUM_INTERMED_PTS = 10
NMS_WINDOW = 2  # 5x5 refinement window
_CROSS = generate_binary_structure(2, 1)

# ------------------------------------------------------------------------------------------------
# network


def _vgg19_trunk() -> nn.Sequential:
    """``model0``: VGG19 conv1_1..conv4_2, then conv4_3_CPM / conv4_4_CPM (128 channels at 1/8)."""
    layers: list[nn.Module] = []
    in_ch = 3
    for item in (64, 64, "pool", 128, 128, "pool", 256, 256, 256, 256, "pool", 512, 512, 256, 128):
        if item == "pool":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, padding=0))
        else:
            layers += [nn.Conv2d(in_ch, int(item), 3, 1, 1), nn.ReLU(inplace=True)]
            in_ch = int(item)
    return nn.Sequential(*layers)


def _stage(first: bool, out_channels: int) -> nn.Sequential:
    """One CPM branch: stage 1 (3x3 convs on the trunk) or stages 2-6 (7x7 convs on 185 channels);
    ReLU after every conv but the last."""
    if first:
        spec = [(128, 128, 3, 1)] * 3 + [(128, 512, 1, 0), (512, out_channels, 1, 0)]
    else:
        spec = [(185, 128, 7, 3)] + [(128, 128, 7, 3)] * 4 + [(128, 128, 1, 0), (128, out_channels, 1, 0)]
    layers: list[nn.Module] = []
    for i, (cin, cout, k, pad) in enumerate(spec):
        layers.append(nn.Conv2d(cin, cout, k, 1, pad))
        if i < len(spec) - 1:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class RtPoseVGG(nn.Module):
    """rtpose_vgg ``get_model('vgg19')``: same modules, state_dict keys and forward pass.

    ``forward(x)`` takes ``N x 3 x H x W`` (H, W multiples of 8) and returns ``(paf, heat)`` =
    (``out6_1``, 38 channels; ``out6_2``, 19 channels) at ``H/8 x W/8``.
    """

    def __init__(self) -> None:
        super().__init__()
        # attribute order of the official rtpose_model (it fixes the state_dict order)
        self.model0 = _vgg19_trunk()
        for s in range(1, 7):
            setattr(self, f"model{s}_1", _stage(s == 1, 38))
        for s in range(1, 7):
            setattr(self, f"model{s}_2", _stage(s == 1, 19))
        self._initialize_weights_norm()

    def _initialize_weights_norm(self) -> None:
        """The official init: conv weights N(0, 0.01), zero biases (useless without trained weights)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.constant_(m.bias, 0.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        trunk = self.model0(x)
        features = trunk
        for s in range(1, 7):
            paf = getattr(self, f"model{s}_1")(features)
            heat = getattr(self, f"model{s}_2")(features)
            if s < 6:
                features = torch.cat([paf, heat, trunk], 1)
        return paf, heat


@contextlib.contextmanager
def _ieee_fp32(device: torch.device) -> Iterator[None]:
    """Disable TF32 for cuDNN convolutions on CUDA (the official GPUs had none), restoring afterwards."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if device.type != "cuda" or conv is None:
        yield
        return
    previous = conv.fp32_precision
    conv.fp32_precision = "ieee"
    try:
        yield
    finally:
        conv.fp32_precision = previous


# ------------------------------------------------------------------------------------------------
# preprocessing and maps (coco_eval.get_outputs)


def get_multiplier(image: np.ndarray) -> list[float]:
    """coco_eval.get_multiplier: the scales ``[368 / H]`` (scale_search is ``[1.0]``)."""
    return [1.0 * BOX_SIZE / float(image.shape[0])]


def crop_with_factor(image: np.ndarray, dest_size: float, factor: int = STRIDE
                     ) -> tuple[np.ndarray, float, tuple[int, ...]]:
    """im_transform.crop_with_factor: resize by ``dest_size / min(H, W)`` (cv2 INTER_LINEAR, in the
    image's dtype), zero-pad bottom/right to a multiple of ``factor``.

    Returns (padded image, scale, shape before padding)."""
    scale = float(dest_size) / float(min(image.shape[0], image.shape[1]))
    resized = cv2.resize(np.ascontiguousarray(image), None, fx=scale, fy=scale)
    h, w = resized.shape[:2]
    new_h, new_w = int(np.ceil(float(h) / factor)) * factor, int(np.ceil(float(w) / factor)) * factor
    padded = np.zeros((new_h, new_w) + resized.shape[2:], dtype=resized.dtype)
    padded[:h, :w] = resized
    return padded, scale, resized.shape


def rtpose_preprocess(crop: np.ndarray) -> np.ndarray:
    """``float32(u8) / 256 - 0.5``, HWC -> CHW (float32)."""
    return (crop.astype(np.float32) / 256.0 - 0.5).transpose(2, 0, 1).astype(np.float32)


def resize_map(raw: np.ndarray, padded_hw: Sequence[int], real_hw: Sequence[int],
               image_hw: Sequence[int]) -> np.ndarray:
    """One network output (h/8 x w/8 x C, float32) to image resolution as get_outputs does: keep the
    padded crop's cells, x8 INTER_CUBIC, crop to the unpadded size, INTER_CUBIC to (W, H)."""
    cells = raw[:int(padded_hw[0] / STRIDE), :int(padded_hw[1] / STRIDE)]
    up = cv2.resize(np.ascontiguousarray(cells), None, fx=STRIDE, fy=STRIDE, interpolation=cv2.INTER_CUBIC)
    up = up[:real_hw[0], :real_hw[1]]
    return cv2.resize(np.ascontiguousarray(up), (int(image_hw[1]), int(image_hw[0])), interpolation=cv2.INTER_CUBIC)


def _scale_inputs(image_bgr: np.ndarray, multiplier: Sequence[float]
                  ) -> tuple[np.ndarray, list[tuple[tuple[int, ...], tuple[int, ...]]]]:
    """The scale batch of get_outputs (float32, zero-padded to the largest crop) and, per scale,
    (padded crop shape, unpadded shape)."""
    max_crop, _, _ = crop_with_factor(image_bgr, multiplier[-1] * image_bgr.shape[0])
    batch = np.zeros((len(multiplier), 3, max_crop.shape[0], max_crop.shape[1]), dtype=np.float32)
    shapes = []
    for m, scale in enumerate(multiplier):
        crop, _, real_shape = crop_with_factor(image_bgr, scale * image_bgr.shape[0])
        data = rtpose_preprocess(crop)
        batch[m, :, :data.shape[1], :data.shape[2]] = data
        shapes.append((crop.shape, real_shape))
    return batch, shapes


@torch.no_grad()
def run_network(model: nn.Module, batch: np.ndarray, device: torch.device | str = "cpu"
                ) -> tuple[np.ndarray, np.ndarray]:
    """``N x 3 x H x W`` float32 -> (paf N x h x w x 38, heat N x h x w x 19) float32 numpy (HWC)."""
    device = torch.device(device)
    with _ieee_fp32(device):
        paf, heat = model(torch.from_numpy(np.ascontiguousarray(batch)).to(device).float())
    return (paf.float().cpu().numpy().transpose(0, 2, 3, 1), heat.float().cpu().numpy().transpose(0, 2, 3, 1))


def _accumulate(raw_paf: np.ndarray, raw_heat: np.ndarray, shapes: Sequence[tuple[tuple[int, ...], tuple[int, ...]]],
                image_hw: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-scale resize of raw outputs (one image, all its scales) and float64 averaging."""
    n = len(shapes)
    paf_avg = np.zeros((image_hw[0], image_hw[1], raw_paf.shape[-1]))
    heat_avg = np.zeros((image_hw[0], image_hw[1], raw_heat.shape[-1]))
    for m, (padded, real) in enumerate(shapes):
        heat_avg = heat_avg + resize_map(raw_heat[m], padded, real, image_hw) / n
        paf_avg = paf_avg + resize_map(raw_paf[m], padded, real, image_hw) / n
    return paf_avg, heat_avg


def get_outputs(multiplier: Sequence[float], image_bgr: np.ndarray, model: nn.Module,
                device: torch.device | str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """coco_eval.get_outputs(..., 'rtpose'): float64 ``(paf H x W x 38, heat H x W x 19)`` of one BGR image."""
    batch, shapes = _scale_inputs(image_bgr, multiplier)
    raw_paf, raw_heat = run_network(model, batch, device)
    return _accumulate(raw_paf, raw_heat, shapes, image_bgr.shape[:2])


def handle_paf_and_heat(orig_heat: np.ndarray, flip_heat: np.ndarray, orig_paf: np.ndarray,
                        flip_paf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """coco_eval.handle_paf_and_heat: un-flip the flipped maps, negate the even (x) PAF channels,
    swap left/right channels and average. Returns ``(paf, heat)``."""
    flipped_paf = np.array(flip_paf[:, ::-1, :])
    flipped_paf[:, :, 0::2] = -flipped_paf[:, :, 0::2]
    paf = (orig_paf + flipped_paf[:, :, SWAP_PAF]) / 2.0
    heat = (orig_heat + flip_heat[:, ::-1, :][:, :, SWAP_HEAT]) / 2.0
    return paf, heat


# ------------------------------------------------------------------------------------------------
# decode_pose (network/post.py)


def _resized_coords(coords: np.ndarray, factor: float) -> np.ndarray:
    return (np.array(coords, dtype=float) + 0.5) * factor - 0.5


def nms(heatmaps: np.ndarray, upsamp_factor: float = 1.0, thre1: float = THRE1) -> list[np.ndarray]:
    """post.NMS (refinement on, no Gaussian filter): per joint type an ``n x 4`` array
    ``(x, y, score, id)`` with a running id over all types."""
    per_type: list[np.ndarray] = []
    counter = 0
    for joint in range(NUM_JOINTS):
        heat = heatmaps[:, :, joint]
        is_peak = (maximum_filter(heat, footprint=_CROSS) == heat) * (heat > thre1)
        coords = np.array(np.nonzero(is_peak)[::-1]).T  # [x, y], row-major order
        peaks = np.zeros((len(coords), 4))
        limit = np.array(heat.T.shape) - 1
        for i, peak in enumerate(coords):
            x_min, y_min = np.maximum(0, peak - NMS_WINDOW)
            x_max, y_max = np.minimum(limit, peak + NMS_WINDOW)
            patch = heat[y_min:y_max + 1, x_min:x_max + 1]
            up = cv2.resize(patch, None, fx=upsamp_factor, fy=upsamp_factor, interpolation=cv2.INTER_CUBIC)
            loc = np.unravel_index(up.argmax(), up.shape)
            centre = _resized_coords(peak[::-1] - [y_min, x_min], upsamp_factor)
            refined = loc - centre
            xy = _resized_coords(coords[i], upsamp_factor) + refined[::-1]
            peaks[i, :] = tuple(int(round(v)) for v in xy) + (up[loc], counter)
            counter += 1
        per_type.append(peaks)
    return per_type


def find_connected_joints(paf: np.ndarray, per_type: Sequence[np.ndarray], thre2: float = THRE2,
                          num_intermed_pts: int = NUM_INTERMED_PTS) -> list[np.ndarray]:
    """post.find_connected_joints: per limb an ``n x 5`` array
    ``(src id, dst id, score, src index, dst index)`` of greedily matched joint pairs."""
    connected: list[np.ndarray] = []
    coords = np.empty((4, num_intermed_pts), dtype=np.intp)
    height = paf.shape[0]
    for limb in range(NUM_LIMBS):
        src_all, dst_all = per_type[LIMB_JOINTS[limb][0]], per_type[LIMB_JOINTS[limb][1]]
        if len(src_all) == 0 or len(dst_all) == 0:
            connected.append(np.empty((0, 5)))
            continue
        coords[2, :], coords[3, :] = LIMB_PAF[limb]
        candidates = []
        for i, src in enumerate(src_all):
            for j, dst in enumerate(dst_all):
                direction = dst[:2] - src[:2]
                dist = np.sqrt(np.sum(direction ** 2)) + 1e-8
                direction = direction / dist
                coords[1, :] = np.round(np.linspace(src[0], dst[0], num=num_intermed_pts))
                coords[0, :] = np.round(np.linspace(src[1], dst[1], num=num_intermed_pts))
                samples = paf[coords[0, :], coords[1, :], coords[2:4, :]].T  # same layout as post.py
                scores = samples.dot(direction)
                penalized = scores.mean() + min(0.5 * height / dist - 1, 0)
                if np.count_nonzero(scores > thre2) > 0.8 * num_intermed_pts and penalized > 0:
                    candidates.append((i, j, penalized))
        candidates = sorted(candidates, key=lambda c: c[2], reverse=True)  # stable
        rows: list[list[float]] = []
        used_src: set[int] = set()
        used_dst: set[int] = set()
        max_connections = min(len(src_all), len(dst_all))
        for i, j, s in candidates:
            if i not in used_src and j not in used_dst:
                rows.append([src_all[i][3], dst_all[j][3], s, i, j])
                used_src.add(i)
                used_dst.add(j)
                if len(rows) >= max_connections:
                    break
        connected.append(np.array(rows, dtype=float).reshape(-1, 5))
    return connected


def group_limbs_of_same_person(connected: Sequence[np.ndarray], joint_list: np.ndarray) -> np.ndarray:
    """post.group_limbs_of_same_person: ``P x 20`` rows of 18 joint ids (-1 = none), score, count."""
    people: list[np.ndarray] = []
    for limb in range(NUM_LIMBS):
        src_type, dst_type = LIMB_JOINTS[limb]
        for info in connected[limb]:
            found = [p for p, row in enumerate(people) if row[src_type] == info[0] or row[dst_type] == info[1]]
            if len(found) == 1:
                row = people[found[0]]
                if row[dst_type] != info[1]:
                    row[dst_type] = info[1]
                    row[-1] += 1
                    row[-2] += joint_list[info[1].astype(int), 2] + info[2]
            elif len(found) == 2:
                first, second = people[found[0]], people[found[1]]
                if not ((first >= 0) & (second >= 0))[:-2].any():
                    # disjoint: merge, summing the counters
                    first[:-2] += second[:-2] + 1
                    first[-2:] += second[-2:]
                    first[-2] += info[2]
                    people.pop(found[1])
                else:
                    first[dst_type] = info[1]
                    first[-1] += 1
                    first[-2] += joint_list[info[1].astype(int), 2] + info[2]
            else:
                row = -1 * np.ones(20)
                row[src_type] = info[0]
                row[dst_type] = info[1]
                row[-1] = 2
                row[-2] = sum(joint_list[info[:2].astype(int), 2]) + info[2]
                people.append(row)
    people = [row for row in people if not (row[-1] < 3 or row[-2] / row[-1] < 0.2)]
    return np.array(people, dtype=float).reshape(-1, NUM_JOINTS + 2)


def decode_pose(heatmaps: np.ndarray, pafs: np.ndarray, image_hw: Sequence[int] | None = None,
                thre1: float = THRE1, thre2: float = THRE2) -> tuple[np.ndarray, np.ndarray]:
    """post.decode_pose with ``{'thre1': 0.1, 'thre2': 0.05}``, without drawing.

    ``heatmaps`` (H' x W' x 19) and ``pafs`` (H' x W' x 38) float64; ``image_hw`` defaults to the maps'
    size (extract.py's case). Returns ``(joint_list N x 5 (x, y, score, id, type),
    person_to_joint_assoc P x 20)``."""
    if image_hw is None:
        image_hw = heatmaps.shape[:2]
    per_type = nms(heatmaps, image_hw[0] / float(heatmaps.shape[0]), thre1)
    joint_list = np.array([tuple(peak) + (joint_type,) for joint_type, peaks in enumerate(per_type)
                           for peak in peaks], dtype=float).reshape(-1, 5)
    paf_up = cv2.resize(pafs, (int(image_hw[1]), int(image_hw[0])), interpolation=cv2.INTER_CUBIC)
    connected = find_connected_joints(paf_up, per_type, thre2)
    return joint_list, group_limbs_of_same_person(connected, joint_list)


def joints18(joint_list: np.ndarray) -> np.ndarray:
    """extract.py's value: float64 ``18 x 2`` (x, y) of the last ``joint_list`` row of each type, -1 rows
    for absent types (people are ignored)."""
    out = -np.ones((NUM_JOINTS, 2))
    for row in np.asarray(joint_list, dtype=float).reshape(-1, 5):
        out[int(row[4])] = row[:2]
    return out


# ------------------------------------------------------------------------------------------------
# detector


class OpenPoseBody:
    """pose-evaluation's body keypoints (18 OpenPose joints) as a keypoint detector.

    ``__call__`` maps ``B x H x W x 3`` uint8 RGB frames to ``(points 18 x 2 float64, visible 18 bool)``
    per frame, ``points`` being extract.py's array (-1 rows for missing joints) and ``visible`` =
    ``points[:, 0] != -1``; never None. The network runs on ``device`` (``batch_size`` frames, i.e.
    twice as many images with the flips, per forward); the decoding runs on the CPU.
    """

    num_keypoints = NUM_JOINTS

    def __init__(self, device: torch.device | str = "cpu", weights_dir: str | Path | None = None,
                 allow_download: bool = False, pretrained: bool = True, batch_size: int = 4) -> None:
        self.device = torch.device(device)
        self.model = RtPoseVGG()
        if pretrained:
            path = weights.resolve(weights.OPENPOSE_BODY, weights_dir, allow_download)
            self.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
        self.model.float().eval().to(self.device)
        self.batch_size = max(1, int(batch_size))

    def maps(self, images: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Averaged float64 ``(paf, heat)`` at frame resolution (the decode_pose inputs) per RGB frame."""
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for start in range(0, len(images), self.batch_size):
            frames = [np.ascontiguousarray(image[..., ::-1]) for image in images[start:start + self.batch_size]]
            inputs, layouts = [], []
            for bgr in frames:
                multiplier = get_multiplier(bgr)
                for view in (bgr, np.ascontiguousarray(bgr[:, ::-1])):
                    batch, shapes = _scale_inputs(view, multiplier)
                    inputs.append(batch)
                    layouts.append(shapes)
            raw_paf, raw_heat = run_network(self.model, np.concatenate(inputs), self.device)
            offset = 0
            results = []
            for shapes, view_batch in zip(layouts, inputs):
                n = len(view_batch)
                results.append(_accumulate(raw_paf[offset:offset + n], raw_heat[offset:offset + n], shapes,
                                           frames[0].shape[:2]))
                offset += n
            for k in range(len(frames)):
                (orig_paf, orig_heat), (flip_paf, flip_heat) = results[2 * k], results[2 * k + 1]
                out.append(handle_paf_and_heat(orig_heat, flip_heat, orig_paf, flip_paf))
        return out

    def __call__(self, images: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for paf, heat in self.maps(np.asarray(images)):
            joint_list, _ = decode_pose(heat, paf)
            points = joints18(joint_list)
            out.append((points, points[:, 0] != -1))
        return out
