"""``bench datasets prepare --detect face|body``: crops for videos without metadata.

The official crops of FOMM's datasets come from AliaksandrSiarohin/video-preprocessing:
``crop_vox.py`` (faces: per-frame face boxes, tubes cut when the IoU with the tube's first box
drops below 0.25, boxes joined over the tube, enlarged by ``--increase 0.1`` keeping the aspect)
and ``crop_taichi.py`` (bodies: Mask R-CNN keypoint persons, trajectories cut at camera motion,
intensity jumps, distractors or when the person leaves its square box), both through ``util.py``'s
``crop_bbox_from_frames`` (minimal length, minimal size, no box touching the border). This module
reproduces those rules on our detectors and writes the resulting chunks as a metadata CSV in
``load_videos.py``'s format (``video_id,start,end,bbox,fps,width,height,partition``, start/end in
frames of the file and fps the file's, as ``crop_taichi.py`` writes them), so that the crop is
reproducible: ``bench datasets prepare --metadata`` then cuts exactly these boxes.

Differences: the detectors (dlib's HOG face detector instead of face-alignment's S3FD;
torchvision's Keypoint R-CNN instead of maskrcnn-benchmark's caffe2 model); faces are matched
to the previous frame's box instead of VoxCeleb's annotated box (none here); whole videos are
tracked instead of VoxCeleb utterances re-encoded at 25 fps; ``video_id`` is the file name without
its suffix; the partition is one ``--partition`` for all (the official lists test ids).
"""
from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np

from bench.datasets.prepare import (METADATA_COLUMNS, PARTITIONS, SOURCE_SUFFIXES, iter_source_frames)
from bench.errors import DataError, UserError
from bench.files import atomic_write

BoxF = Sequence[float]
REF_FRAME_SIZE = 360  # crop_vox.py: faces are detected on frames resized to this height
MODES = ("face", "body")


# ---------------------------------------------------------------------------------- util.py box rules


def bb_iou(box_a: BoxF, box_b: BoxF) -> float:
    """util.py ``bb_intersection_over_union``: IoU with the +1 inclusive-pixel convention."""
    x_a, y_a = max(box_a[0], box_b[0]), max(box_a[1], box_b[1])
    x_b, y_b = min(box_a[2], box_b[2]), min(box_a[3], box_b[3])
    inter = max(0, x_b - x_a + 1) * max(0, y_b - y_a + 1)
    area_a = (box_a[2] - box_a[0] + 1) * (box_a[3] - box_a[1] + 1)
    area_b = (box_b[2] - box_b[0] + 1) * (box_b[3] - box_b[1] + 1)
    return float(inter / float(area_a + area_b - inter))


def one_box_inside_other(box_a: BoxF, box_b: BoxF) -> bool:
    """util.py ``one_box_inside_other``: ``box_b`` lies inside ``box_a``."""
    return bool(box_a[0] <= box_b[0] and box_a[1] <= box_b[1] and box_a[2] >= box_b[2] and box_a[3] >= box_b[3])


def join(tube: BoxF, box: BoxF) -> tuple[float, float, float, float]:
    """util.py ``join``: the union (bounding) box of two boxes."""
    return (min(tube[0], box[0]), min(tube[1], box[1]), max(tube[2], box[2]), max(tube[3], box[3]))


def compute_aspect_preserved_bbox(bbox: BoxF, increase_area: float) -> tuple[int, int, int, int]:
    """util.py ``compute_aspect_preserved_bbox``: grow each side by at least ``increase_area`` of the
    box's size and the shorter side until the box is square; ``int()`` truncation as the official."""
    left, top, right, bot = bbox[:4]
    width, height = right - left, bot - top
    width_increase = max(increase_area, ((1 + 2 * increase_area) * height - width) / (2 * width))
    height_increase = max(increase_area, ((1 + 2 * increase_area) * width - height) / (2 * height))
    return (int(left - width_increase * width), int(top - height_increase * height),
            int(right + width_increase * width), int(bot + height_increase * height))


def compute_increased_bbox(bbox: BoxF, increase_area: float) -> tuple[int, int, int, int]:
    """util.py ``compute_increased_bbox``: grow each side by ``increase_area`` of the box's size."""
    left, top, right, bot = bbox[:4]
    width, height = right - left, bot - top
    return (int(left - increase_area * width), int(top - increase_area * height),
            int(right + increase_area * width), int(bot + increase_area * height))


def crop_bbox(n_frames: int, frame_hw: tuple[int, int], tube_bbox: BoxF, min_frames: int = 16, min_size: int = 200,
              increase_area: float = 0.1, aspect_preserving: bool = True) -> tuple[int, int, int, int] | None:
    """util.py ``crop_bbox_from_frames`` without the cropping: None when the tube is shorter than
    ``min_frames``, its larger side below ``min_size`` or its enlarged box leaves the frame; else
    the enlarged box ``[left, top, right, bot]`` that the metadata stores."""
    if n_frames < min_frames:
        return None
    left, top, right, bot = tube_bbox[:4]
    width, height = right - left, bot - top
    if max(width, height) < min_size:
        return None
    if width <= 0 or height <= 0:  # the official divides by zero here (min_size 0, no detection)
        return None
    if aspect_preserving:
        left, top, right, bot = compute_aspect_preserved_bbox(tube_bbox, increase_area)
    else:
        left, top, right, bot = compute_increased_bbox(tube_bbox, increase_area)
    out_of_bounds = (-min(0, left), right - min(right, frame_hw[1]), -min(0, top), bot - min(bot, frame_hw[0]))
    if max(out_of_bounds[0] / float(width), out_of_bounds[1] / float(width),
           out_of_bounds[2] / float(height), out_of_bounds[3] / float(height)) > 0:
        return None  # "Not use near the border"
    return (int(left), int(top), int(right), int(bot))


# ------------------------------------------------------------------------------------------ parameters


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


# ------------------------------------------------------------------------------------------- detectors


class FaceBoxDetector(Protocol):
    name: str

    def __call__(self, image: np.ndarray) -> list[tuple[float, float, float, float]]: ...


@dataclass(frozen=True)
class PersonDetections:
    """Persons in one frame: ``boxes`` N x 4 (x0, y0, x1, y1), ``scores`` N, ``keypoint_scores`` N x 17
    (COCO order; the keypoint heatmap logits that crop_taichi.py's ``check_full_person`` thresholds)."""

    boxes: np.ndarray
    scores: np.ndarray
    keypoint_scores: np.ndarray


class PersonDetector(Protocol):
    name: str

    def __call__(self, image: np.ndarray) -> PersonDetections: ...


class DlibFaceBoxes:
    """dlib's HOG frontal face detector (offline with dlib-bin), upsampling ``upsample`` times."""

    def __init__(self, upsample: int = 1) -> None:
        from bench import weights

        self.detector = weights.import_dlib().get_frontal_face_detector()
        self.upsample = upsample
        self.name = f"dlib-hog-up{upsample}"

    def __call__(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        return [(float(r.left()), float(r.top()), float(r.right()), float(r.bottom()))
                for r in self.detector(np.ascontiguousarray(image), self.upsample)]


class TorchvisionPersons:
    """torchvision Keypoint R-CNN (ResNet-50 FPN, COCO) in place of crop_taichi.py's maskrcnn-benchmark
    keypoint model, used as there: ``COCODemo(cfg, min_image_size=256, confidence_threshold=0.7)``
    (shorter side resized to 256, persons scoring above 0.7). Needs the torchvision COCO weights
    (``MissingWeightsError`` names the file and folder when absent)."""

    def __init__(self, device: str = "cpu", weights_dir: str | Path | None = None, min_image_size: int = 256,
                 confidence_threshold: float = 0.7) -> None:
        import torch
        from torchvision.models.detection import keypointrcnn_resnet50_fpn

        from bench import weights

        path = weights.resolve(weights.KEYPOINT_RCNN, weights_dir)
        self.torch = torch
        self.device = torch.device(device)
        self.model = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None, min_size=min_image_size)
        self.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.model.eval().to(self.device)
        self.threshold = confidence_threshold
        self.name = f"torchvision-keypointrcnn-min{min_image_size}-th{confidence_threshold}"

    def __call__(self, image: np.ndarray) -> PersonDetections:
        torch = self.torch
        with torch.no_grad():
            tensor = torch.from_numpy(np.ascontiguousarray(image)).to(self.device).permute(2, 0, 1).float() / 255.0
            result = self.model([tensor])[0]
        keep = result["scores"] > self.threshold
        return PersonDetections(result["boxes"][keep].cpu().double().numpy(),
                                result["scores"][keep].cpu().double().numpy(),
                                result["keypoints_scores"][keep].cpu().double().numpy())


def default_detector(mode: str, device: str = "cpu", weights_dir: str | Path | None = None):  # noqa: ANN201
    """The detector of ``mode``: dlib HOG faces or torchvision Keypoint R-CNN persons."""
    if mode == "face":
        return DlibFaceBoxes()
    if mode == "body":
        return TorchvisionPersons(device=device, weights_dir=weights_dir)
    raise UserError(f"unknown --detect {mode!r}; choose from: {', '.join(MODES)}")


# -------------------------------------------------------------------------------------- face (crop_vox)


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


# ---------------------------------------------------------------------------------- body (crop_taichi)


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


def track_bodies(frames: Iterable[np.ndarray], detector: PersonDetector, params: BodyParams = BodyParams()
                 ) -> list[Segment]:
    """crop_taichi.py ``process_video``: trajectories of full persons (score, height, head and ankle
    keypoints), each a fixed box ``compute_aspect_preserved_bbox(first box, increase)``; all are
    stored at a camera move or intensity jump, one is stored when its person is lost, meets more
    than one distractor, leaves the box or reaches ``max_frames``; stored through
    ``crop_bbox_from_frames(increase_area=0)``. Only frame counts and shapes are kept (streaming)."""
    segments: list[Segment] = []
    trajectories: list[list] = []  # [tube_bbox, start, n_frames, (H, W)]
    previous_frame = previous_intensity = None
    i = -1

    def store(batch: list[list], end: int) -> None:
        for tube, start, count, hw in batch:
            final = crop_bbox(count, hw, tube, min_frames=params.min_frames, min_size=params.min_size,
                              increase_area=0)
            if len(segments) > params.max_crops:
                return
            if final is None:
                continue
            segments.append(Segment(start, end, final, hw[0], hw[1]))

    for i, frame in enumerate(frames):
        if params.minimal_video_size > min(frame.shape[0], frame.shape[1]):
            return segments
        if i % params.sample_rate != 0:
            continue
        found = detector(frame)
        boxes = np.asarray(found.boxes, dtype=float).reshape(-1, 4)
        scores = np.asarray(found.scores, dtype=float).reshape(-1)
        kp_scores = np.asarray(found.keypoint_scores, dtype=float).reshape(len(boxes), -1)
        height_ok = (boxes[:, 3] - boxes[:, 1]) > params.minimal_person_size * frame.shape[1]
        score_ok = scores > params.bbox_confidence_th
        full_ok = np.array([check_full_person(k, params.kp_confidence_th) for k in kp_scores], dtype=bool)
        distractors = boxes[height_ok & score_ok]
        valid = boxes[height_ok & score_ok & full_ok]

        current_frame = _gray256(frame)
        current_intensity = np.median(frame.reshape((-1, frame.shape[-1])), axis=0)
        if previous_frame is None:
            previous_frame, previous_intensity = current_frame, current_intensity
        quartiles = camera_motion(current_frame, previous_frame)
        camera = quartiles[1] > params.camera_change_threshold
        previous_frame = current_frame
        intensity = np.max(np.abs(previous_intensity - current_intensity)) > params.intensity_change_threshold
        previous_intensity = current_intensity
        if camera or intensity:
            store(trajectories, i)
            trajectories = []

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
        store(dropped, i)
        trajectories = kept

        for bbox in valid:
            matched = False
            for trajectory in trajectories:
                matched = bb_iou(trajectory[0], bbox) > 0
                if matched:
                    trajectory[2] += 1
                    break
            if not matched:
                trajectories.append([compute_aspect_preserved_bbox(bbox, params.increase), i, 1, frame.shape[:2]])
        if len(segments) > params.max_crops:
            break
    store(trajectories, i + 1)
    return segments


# ------------------------------------------------------------------------------------- metadata output


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def segment_rows(video_id: str, segments: Sequence[Segment], fps: float, partition: str) -> list[dict[str, str]]:
    """Metadata rows as util.py's ``scheduler`` writes them:
    ``{video_id},{start},{end},{bbox},{fps},{width},{height},{partition}`` with bbox ``l-t-r-b``."""
    return [{"video_id": video_id, "start": str(s.start), "end": str(s.end), "bbox": "-".join(map(str, s.bbox)),
             "fps": _number(fps), "width": str(s.width), "height": str(s.height), "partition": partition}
            for s in segments]


def list_sources(videos: Path) -> list[Path]:
    """Movie files of ``videos`` (sorted by name; hidden files skipped)."""
    if not videos.is_dir():
        raise DataError(f"videos folder not found: {videos}")
    return sorted((p for p in videos.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in SOURCE_SUFFIXES), key=lambda p: p.name)


@dataclass
class DetectResult:
    video: str
    rows: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    cached: bool = False


_DETECTORS: dict[tuple, object] = {}


def _cache_key(mode: str, params: FaceParams | BodyParams, detector_name: str, partition: str) -> str:
    payload = json.dumps({"mode": mode, "params": asdict(params), "detector": detector_name,
                          "partition": partition, "version": 1}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def detect_video(source: Path, mode: str, detector, params: FaceParams | BodyParams,  # noqa: ANN001
                 partition: str) -> list[dict[str, str]]:
    """The metadata rows of one source video (``DataError`` when it cannot be decoded)."""
    fps_box: list[float] = []

    def frames() -> Iterable[np.ndarray]:
        for fps, frame in iter_source_frames(source):
            if not fps_box:
                fps_box.append(fps)
            yield frame

    track = track_faces if mode == "face" else track_bodies
    segments = track(frames(), detector, params)
    if not fps_box:
        raise DataError(f"no frames decoded from {source}")
    if fps_box[0] <= 0:
        raise DataError(f"unknown frame rate of {source}")
    return segment_rows(source.stem, segments, fps_box[0], partition)


def _detect_job(payload: tuple) -> DetectResult:
    source, mode, params, partition, cache_file, factory = payload
    result = DetectResult(source.name)
    if cache_file is not None and cache_file.is_file():
        with cache_file.open(newline="") as handle:
            result.rows = list(csv.DictReader(handle))
        result.cached = True
        return result
    key = (mode, factory)
    if key not in _DETECTORS:
        _DETECTORS[key] = factory()
    try:
        result.rows = detect_video(source, mode, _DETECTORS[key], params, partition)
    except DataError as exc:
        result.error = str(exc)
        return result
    if cache_file is not None:
        _write_csv(cache_file, result.rows)
    return result


def _write_csv(path: Path, rows: Sequence[dict[str, str]]) -> None:
    """Write ``rows`` atomically (temporary name, then rename)."""
    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(METADATA_COLUMNS), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


@dataclass
class DetectSummary:
    csv: Path
    videos: int = 0
    chunks: int = 0
    cached: int = 0
    without_chunks: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = f"{self.csv}: {self.chunks} chunk(s) from {self.videos} video(s)"
        if self.cached:
            text += f" ({self.cached} from an earlier run)"
        if self.without_chunks:
            text += f"; {len(self.without_chunks)} video(s) without a usable track"
        if self.failed:
            text += f"; {len(self.failed)} unreadable"
        return text


@dataclass(frozen=True)
class _Factory:
    """Picklable detector constructor for worker processes."""

    mode: str
    device: str = "cpu"
    weights_dir: str | None = None

    def __call__(self):  # noqa: ANN204
        return default_detector(self.mode, self.device, self.weights_dir)


def detect_metadata(videos: str | Path, out_csv: str | Path, mode: str, partition: str = "test",
                    params: FaceParams | BodyParams | None = None, workers: int = 1, cache_dir: str | Path | None = None,
                    device: str = "cpu", weights_dir: str | Path | None = None,
                    detector_factory: Callable[[], object] | None = None, progress: bool = False,
                    echo: Callable[[str], None] | None = None) -> DetectSummary:
    """Detect and track faces or persons in every video of ``videos`` and write the metadata CSV.

    Per-video results are cached in ``cache_dir`` (keyed by mode, parameters, detector and partition)
    so an interrupted run resumes; unreadable videos are reported one line each and skipped.
    ``detector_factory`` replaces the default detector (it must be picklable when ``workers`` > 1).
    """
    from tqdm import tqdm

    if mode not in MODES:
        raise UserError(f"unknown --detect {mode!r}; choose from: {', '.join(MODES)}")
    if partition not in PARTITIONS:
        raise UserError(f"--partition must be train or test, got {partition!r}")
    if workers < 1:
        raise UserError("--workers must be at least 1")
    params = params or (FaceParams() if mode == "face" else BodyParams())
    sources = list_sources(Path(videos))
    if not sources:
        raise DataError(f"no videos ({', '.join(SOURCE_SUFFIXES)}) in {videos}")
    factory = detector_factory or _Factory(mode, device, None if weights_dir is None else str(weights_dir))
    if detector_factory is None:
        _DETECTORS[(mode, factory)] = factory()  # fail early (missing dlib / weights) with one line
    detector_name = getattr(_DETECTORS.get((mode, factory)), "name", None) or getattr(factory, "name", repr(factory))
    key = _cache_key(mode, params, str(detector_name), partition)
    cache = Path(cache_dir) if cache_dir is not None else None
    payloads = [(src, mode, params, partition, cache / f"{src.name}.{key}.csv" if cache else None, factory)
                for src in sources]
    echo = echo or (lambda line: tqdm.write(line))
    summary = DetectSummary(Path(out_csv), videos=len(sources))
    results: dict[str, DetectResult] = {}
    with tqdm(total=len(payloads), unit="video", desc=f"detect {mode}", disable=not progress, file=sys.stderr) as bar:
        if workers == 1 or len(payloads) == 1:
            iterator = (_detect_job(p) for p in payloads)
            pool = None
        else:
            pool = multiprocessing.get_context("spawn").Pool(min(workers, len(payloads)))
            iterator = pool.imap_unordered(_detect_job, payloads)
        try:
            for result in iterator:
                results[result.video] = result
                if result.error:
                    summary.failed.append(result.video)
                    echo(f"{result.error}; no crops detected for {result.video}")
                elif not result.rows:
                    summary.without_chunks.append(result.video)
                    echo(f"no {mode} track in {result.video} passes the filters "
                         f"(min {params.min_frames} frames, min {params.min_size} px, not near the border)")
                summary.cached += result.cached
                bar.update(1)
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    rows = [row for src in sources for row in results[src.name].rows]
    summary.chunks = len(rows)
    _write_csv(Path(out_csv), rows)
    return summary
