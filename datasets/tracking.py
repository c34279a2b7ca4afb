"""Face and person tracks of AliaksandrSiarohin/video-preprocessing: ``crop_vox.py`` and ``crop_taichi.py``.

``crop_vox.py`` (faces): per-frame face boxes, tubes cut when the IoU with the tube's first box
drops below 0.25, boxes joined over the tube, enlarged by ``--increase 0.1`` keeping the aspect.
``crop_taichi.py`` (bodies): Keypoint R-CNN persons, trajectories cut at camera motion, intensity
jumps, distractors or when the person leaves its square box. Both keep a track through
``util.py``'s ``crop_bbox_from_frames`` (:func:`bench.datasets.boxes.crop_bbox`). Frames are
streamed: only boxes, frame counts and shapes are kept.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from bench.datasets.boxes import BoxF, bb_iou, compute_aspect_preserved_bbox, crop_bbox, join, one_box_inside_other
from bench.datasets.detectors import FaceBoxDetector, PersonDetections, PersonDetector

REF_FRAME_SIZE = 360  # crop_vox.py: faces are detected on frames resized to this height


@dataclass(frozen=True)
class FaceParams:
    """crop_vox.py's defaults: ``--iou_with_initial 0.25 --increase 0.1 --min_frames 64
    --max_frames 1024 --min_size 256``."""

    iou_with_initial: float = 0.25
    increase: float = 0.1
    min_frames: int = 64
    max_frames: int = 1024
    min_size: int = 256


@dataclass(frozen=True)
class BodyParams:
    """crop_taichi.py's defaults (``mimial_person_size`` is a fraction of the frame *width*, as there)."""

    increase: float = 0.05
    min_frames: int = 128
    max_frames: int = 1024
    min_size: int = 256
    bbox_confidence_th: float = 0.9
    kp_confidence_th: float = 2.0
    minimal_person_size: float = 0.10
    minimal_video_size: int = 300
    camera_change_threshold: float = 1.0
    intensity_change_threshold: float = 1.5
    sample_rate: int = 1
    max_crops: int = 1000


@dataclass(frozen=True)
class Segment:
    """One detected chunk: frames ``[start, end)`` of the file, cut at ``bbox`` from ``height x width`` frames."""

    start: int
    end: int
    bbox: tuple[int, int, int, int]
    height: int
    width: int


def face_box(frame: np.ndarray, detector: FaceBoxDetector, reference: BoxF | None) -> np.ndarray:
    """crop_vox.py ``estimate_bbox`` + ``extract_bbox`` for one frame: detect on the frame resized to
    height 360 (``resize(frame, (360, int(W / mult)), preserve_range=True)``), take the face with the
    largest IoU with ``reference`` (the official's VoxCeleb box; here the previous frame's face, the
    largest face when there is none), ``[0, 0, 0, 0]`` when no face, clamp at 0 and scale back by
    ``mult = H / 360``."""
    from skimage.transform import resize

    mult = frame.shape[0] / REF_FRAME_SIZE
    small = resize(frame, (REF_FRAME_SIZE, int(frame.shape[1] / mult)), preserve_range=True)
    boxes = detector(np.clip(np.rint(small), 0, 255).astype(np.uint8))
    if not boxes:
        bbox = np.zeros(4)
    elif reference is None:
        bbox = np.asarray(max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])), dtype=float)
    else:
        ref = np.asarray(reference, dtype=float) / mult
        bbox = np.asarray(max((bb_iou(b, ref), tuple(b)) for b in boxes)[1], dtype=float)
    return np.maximum(bbox[:4], 0) * mult


def vox_tubes(bboxes: Sequence[BoxF], iou_with_initial: float = 0.25,
              max_frames: int = 1024) -> list[tuple[int, int, tuple[float, ...], int]]:
    """crop_video of crop_vox.py: ``(start, end, tube_bbox, n_frames)`` per tube. A new tube starts
    when a frame's box has IoU below ``iou_with_initial`` with the tube's first box or the tube
    holds ``max_frames`` frames; a tube's box is the union of its frames' boxes."""
    tubes = []
    initial = tube = None
    start = count = 0
    for i, bbox in enumerate(bboxes):
        bbox = tuple(float(v) for v in bbox[:4])
        if initial is None:
            initial, start, tube = bbox, i, bbox
        if bb_iou(initial, bbox) < iou_with_initial or count >= max_frames:
            tubes.append((start, i, tube, count))
            initial, start, tube, count = bbox, i, bbox, 0
        tube = join(tube, bbox)
        count += 1
    if initial is not None:
        tubes.append((start, len(bboxes), tube, count))
    return tubes


def track_faces(frames: Iterable[np.ndarray], detector: FaceBoxDetector, params: FaceParams = FaceParams()
                ) -> list[Segment]:
    """crop_vox.py on one video: per-frame face boxes, tubes (:func:`vox_tubes`), each kept through
    util.py's ``crop_bbox_from_frames(min_frames, min_size, increase_area, aspect_preserving=True)``."""
    bboxes: list[np.ndarray] = []
    reference = None
    hw = None
    for frame in frames:
        hw = hw or frame.shape[:2]
        bbox = face_box(frame, detector, reference)
        if bbox[2] > bbox[0]:
            reference = bbox
        bboxes.append(bbox)
    segments = []
    for start, end, tube, count in vox_tubes(bboxes, params.iou_with_initial, params.max_frames):
        final = crop_bbox(count, hw, tube, min_frames=params.min_frames, min_size=params.min_size,
                          increase_area=params.increase)
        if final is not None:
            segments.append(Segment(start, end, final, hw[0], hw[1]))
    return segments


def check_full_person(keypoint_scores: np.ndarray, threshold: float) -> bool:
    """crop_taichi.py ``check_full_person``: some head keypoint (COCO 0-4) and some ankle (15-16)
    above the keypoint threshold."""
    head = int(np.sum(keypoint_scores[:5] > threshold))
    legs = int(np.sum(keypoint_scores[-2:] > threshold))
    return bool(head and legs)


def _gray256(frame: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2gray
    from skimage.transform import resize

    return rgb2gray(resize(frame, (256, 256), preserve_range=True, anti_aliasing=True, mode="constant"))


def camera_motion(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """crop_taichi.py ``check_camera_motion``: quartiles of the Farneback flow magnitude."""
    import cv2

    flow = cv2.calcOpticalFlowFarneback(previous, current, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    magnitude, _ = cv2.cartToPolar(flow[..., 0], flow[..., 1])
    return np.quantile(magnitude, [0.25, 0.5, 0.75])


def _persons(found: PersonDetections, frame: np.ndarray, params: BodyParams) -> tuple[np.ndarray, np.ndarray]:
    """crop_taichi.py: the frame's ``(valid, distractors)`` boxes: distractors score above
    ``bbox_confidence_th`` and are taller than ``minimal_person_size`` of the frame width; valid
    ones also show a head and an ankle (:func:`check_full_person`)."""
    boxes = np.asarray(found.boxes, dtype=float).reshape(-1, 4)
    scores = np.asarray(found.scores, dtype=float).reshape(-1)
    kp_scores = np.asarray(found.keypoint_scores, dtype=float).reshape(len(boxes), -1 if len(boxes) else 0)
    height_ok = (boxes[:, 3] - boxes[:, 1]) > params.minimal_person_size * frame.shape[1]
    score_ok = scores > params.bbox_confidence_th
    full_ok = np.array([check_full_person(k, params.kp_confidence_th) for k in kp_scores], dtype=bool)
    return boxes[height_ok & score_ok & full_ok], boxes[height_ok & score_ok]


class _SceneChange:
    """crop_taichi.py: a camera move (median Farneback flow above ``camera_change_threshold``) or an
    intensity jump (median colour change above ``intensity_change_threshold``) since the last
    processed frame."""

    def __init__(self, params: BodyParams) -> None:
        self.params = params
        self.frame: np.ndarray | None = None
        self.intensity: np.ndarray | None = None

    def __call__(self, frame: np.ndarray) -> bool:
        current_frame = _gray256(frame)
        current_intensity = np.median(frame.reshape((-1, frame.shape[-1])), axis=0)
        if self.frame is None:
            self.frame, self.intensity = current_frame, current_intensity
        quartiles = camera_motion(current_frame, self.frame)
        camera = quartiles[1] > self.params.camera_change_threshold
        self.frame = current_frame
        intensity = np.max(np.abs(self.intensity - current_intensity)) > self.params.intensity_change_threshold
        self.intensity = current_intensity
        return bool(camera or intensity)


class _Segments:
    """crop_taichi.py's ``store``: finished trajectories through ``crop_bbox_from_frames(increase_area=0)``,
    at most ``max_crops`` (+1, as the official checks before appending)."""

    def __init__(self, params: BodyParams) -> None:
        self.params = params
        self.items: list[Segment] = []

    @property
    def full(self) -> bool:
        return len(self.items) > self.params.max_crops

    def store(self, batch: list[list], end: int) -> None:
        for tube, start, count, hw in batch:
            final = crop_bbox(count, hw, tube, min_frames=self.params.min_frames, min_size=self.params.min_size,
                              increase_area=0)
            if self.full:
                return
            if final is None:
                continue
            self.items.append(Segment(start, end, final, hw[0], hw[1]))


def _follow(trajectories: list[list], valid: np.ndarray, distractors: np.ndarray,
            params: BodyParams) -> tuple[list[list], list[list]]:
    """crop_taichi.py: ``(kept, dropped)`` trajectories; one is dropped when its person is lost, it meets
    more than one distractor, the person leaves its box or it holds ``max_frames`` frames."""
    kept, dropped = [], []
    for trajectory in trajectories:
        tube = trajectory[0]
        current = None
        for bbox in valid:
            if bb_iou(tube, bbox) > 0:
                current = bbox
        intersections = sum(bb_iou(tube, bbox) > 0 for bbox in distractors)
        if (current is None or intersections > 1 or not one_box_inside_other(tube, current)
                or trajectory[2] >= params.max_frames):
            dropped.append(trajectory)
        else:
            kept.append(trajectory)
    return kept, dropped


def _extend(trajectories: list[list], valid: np.ndarray, i: int, hw: tuple[int, int], params: BodyParams) -> None:
    """crop_taichi.py: a valid person overlapping a trajectory's box adds a frame to the first such
    trajectory; any other starts one with box ``compute_aspect_preserved_bbox(box, increase)``."""
    for bbox in valid:
        matched = False
        for trajectory in trajectories:
            matched = bb_iou(trajectory[0], bbox) > 0
            if matched:
                trajectory[2] += 1
                break
        if not matched:
            trajectories.append([compute_aspect_preserved_bbox(bbox, params.increase), i, 1, hw])


def track_bodies(frames: Iterable[np.ndarray], detector: PersonDetector, params: BodyParams = BodyParams()
                 ) -> list[Segment]:
    """crop_taichi.py ``process_video``: trajectories of full persons (score, height, head and ankle
    keypoints), each a fixed box ``compute_aspect_preserved_bbox(first box, increase)``; all are
    stored at a camera move or intensity jump, one is stored when its person is lost, meets more
    than one distractor, leaves the box or reaches ``max_frames``; stored through
    ``crop_bbox_from_frames(increase_area=0)``. Only frame counts and shapes are kept (streaming)."""
    segments = _Segments(params)
    trajectories: list[list] = []  # [tube_bbox, start, n_frames, (H, W)]
    scene_changed = _SceneChange(params)
    i = -1
    for i, frame in enumerate(frames):
        if params.minimal_video_size > min(frame.shape[0], frame.shape[1]):
            return segments.items
        if i % params.sample_rate != 0:
            continue
        valid, distractors = _persons(detector(frame), frame, params)
        if scene_changed(frame):
            segments.store(trajectories, i)
            trajectories = []
        trajectories, dropped = _follow(trajectories, valid, distractors, params)
        segments.store(dropped, i)
        _extend(trajectories, valid, i, frame.shape[:2], params)
        if segments.full:
            break
    segments.store(trajectories, i + 1)
    return segments.items
