"""bench.metrics.openpose against the pose-evaluation fixtures (../shared/reference/pose-evaluation).

The fixtures come from running the unmodified official extract.py::extract_body_pose (rtpose_vgg with
random recipe weights, see the fixture README §2.2 / §2.3). Frames, cases, weight recipe parameters and
shapes come from the fixture files.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.errors import MissingWeightsError
from bench.metrics import openpose as op
from tests.reference import POSE_EVALUATION

REF = POSE_EVALUATION
#: README §2.2: a float64 forward differs from the stored float32 raw outputs by <= 1.2e-6 ("atol~1e-5")
RAW_ATOL = 1e-5


def _json(name: str) -> dict:
    path = REF / name
    return json.loads(path.read_text()) if path.is_file() else {}


FRAMES = [frame["index"] for frame in _json("body_pose_real_frames.json").get("frames", [])]
SYNTHETIC_CASES = [case["case"] for case in _json("body_pose_decode_synthetic.json").get("cases", [])]


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def ref() -> Path:
    if not (REF / "body_pose_real_frames.npz").is_file():
        pytest.skip(f"pose-evaluation fixtures not found at {REF}")
    return REF


@pytest.fixture(scope="module")
def spec(ref: Path) -> dict:
    return json.loads((ref / "body_pose_rtpose_vgg19_spec.json").read_text())


@pytest.fixture(scope="module")
def real(ref: Path) -> dict:
    return dict(np.load(ref / "body_pose_real_frames.npz"))


@pytest.fixture(scope="module")
def real_meta(ref: Path) -> dict:
    return json.loads((ref / "body_pose_real_frames.json").read_text())


@pytest.fixture(scope="module")
def recipe(ref: Path):  # noqa: ANN201 - a module loaded by path
    module_spec = importlib.util.spec_from_file_location("pose_eval_weights_recipe", ref / "weights_recipe.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recipe_weights(spec: dict, real_meta: dict, recipe) -> dict[str, np.ndarray]:
    w = real_meta["weights"]
    return recipe.rtpose_weights(spec, w["seed"], final_gain=w["final_gain"], bias_std=w["bias_std"])


@pytest.fixture(scope="module")
def model(recipe_weights: dict[str, np.ndarray]) -> op.RtPoseVGG:
    net = op.RtPoseVGG()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in recipe_weights.items()}, strict=True)
    return net.eval()


# ---------------------------------------------------------------------------------------------- network

def test_state_dict_matches_spec(spec: dict) -> None:
    state = op.RtPoseVGG().state_dict()
    expected = {e["key"]: tuple(e["shape"]) for e in spec["state_dict"]}
    assert len(state) == spec["num_tensors"]
    assert set(state) == set(expected)
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    assert list(state) == [e["key"] for e in spec["state_dict"]]  # official order too
    assert sum(v.numel() for v in state.values()) == spec["num_params"]


def test_recipe_weights_match_fixture_digests(recipe_weights: dict, real_meta: dict, recipe) -> None:
    digests = real_meta["weights"]["sha256_float32"]
    assert {k: recipe.sha256(v) for k, v in recipe_weights.items()} == digests


def _forward_case(model: op.RtPoseVGG, real: dict, real_meta: dict, frame: int, view: str) -> None:
    x = op.rtpose_preprocess(real[f"f{frame}_crop_bgr_{view}"])[None]
    assert list(x.shape) == real_meta["frames"][frame]["model_input_shape"] and x.dtype == np.float32
    paf, heat = op.run_network(model, x)
    np.testing.assert_allclose(paf[0], real[f"f{frame}_raw_paf_{view}"], rtol=0, atol=RAW_ATOL)
    np.testing.assert_allclose(heat[0], real[f"f{frame}_raw_heat_{view}"], rtol=0, atol=RAW_ATOL)


def test_forward_matches_stored_raw_outputs_one_crop(model: op.RtPoseVGG, real: dict, real_meta: dict) -> None:
    _forward_case(model, real, real_meta, FRAMES[0], "orig")


@pytest.mark.slow
@pytest.mark.parametrize(("frame", "view"), [(f, v) for f in FRAMES for v in ("orig", "flip")][1:])
def test_forward_matches_stored_raw_outputs(model: op.RtPoseVGG, real: dict, real_meta: dict, frame: int,
                                            view: str) -> None:
    _forward_case(model, real, real_meta, frame, view)


# ------------------------------------------------------------------------------------- preprocessing, maps

@pytest.mark.parametrize("frame", FRAMES)
def test_multiplier_and_crops_match_fixture(real: dict, frame: int) -> None:
    bgr = real[f"f{frame}_rgb"][..., ::-1]
    multiplier = op.get_multiplier(bgr)
    assert multiplier == list(real[f"f{frame}_multiplier"])
    for view, image in (("orig", bgr), ("flip", bgr[:, ::-1])):
        crop, scale, real_shape = op.crop_with_factor(image, multiplier[0] * image.shape[0])
        assert crop.dtype == np.uint8 and scale == multiplier[0] and crop.shape[:2] == tuple(8 * -(-n // 8)
                                                                                            for n in real_shape[:2])
        np.testing.assert_array_equal(crop, real[f"f{frame}_crop_bgr_{view}"])


def test_crop_with_factor_pads_to_multiple_of_8() -> None:
    image = np.full((30, 50, 3), 200, np.uint8)
    crop, scale, real_shape = op.crop_with_factor(image, 45.0)  # 1.5x -> 45 x 75, padded to 48 x 80
    assert scale == 1.5 and real_shape == (45, 75, 3) and crop.shape == (48, 80, 3)
    assert (crop[:45, :75] == 200).all() and not crop[45:].any() and not crop[:, 75:].any()


@pytest.mark.parametrize("frame", FRAMES)
def test_resize_flip_average_matches_fixture(real: dict, real_meta: dict, frame: int) -> None:
    meta = real_meta["frames"][frame]
    image_hw = real[f"f{frame}_rgb"].shape[:2]
    crop, _, resized = op.crop_with_factor(real[f"f{frame}_rgb"], meta["multiplier"][0] * image_hw[0])
    crop, resized = crop.shape[:2], resized[:2]  # the padded crop and the size before padding
    maps = {}
    for view in ("orig", "flip"):
        paf = op.resize_map(real[f"f{frame}_raw_paf_{view}"], crop, resized, image_hw)
        heat = op.resize_map(real[f"f{frame}_raw_heat_{view}"], crop, resized, image_hw)
        assert paf.dtype == heat.dtype == np.float32 and paf.shape == real[f"f{frame}_paf_f32"].shape
        maps[view] = (np.zeros(paf.shape) + paf / 1, np.zeros(heat.shape) + heat / 1)
    assert _sha(maps["orig"][0]) == meta["sha256_f64_paf_orig"]
    assert _sha(maps["orig"][1]) == meta["sha256_f64_heat_orig"]
    paf, heat = op.handle_paf_and_heat(maps["orig"][1], maps["flip"][1], maps["orig"][0], maps["flip"][0])
    assert paf.dtype == heat.dtype == np.float64
    assert _sha(paf) == meta["sha256_f64_paf_avg"] and _sha(heat) == meta["sha256_f64_heat_avg"]  # bit-exact
    np.testing.assert_array_equal(paf.astype(np.float32), real[f"f{frame}_paf_f32"])
    np.testing.assert_array_equal(heat.astype(np.float32), real[f"f{frame}_heat_f32"])


def test_handle_paf_and_heat_unit_case(ref: Path) -> None:
    case = np.load(ref / "body_pose_real_frames_handle_paf_and_heat.npz")
    flip_paf = case["hp_flip_paf"].copy()
    paf, heat = op.handle_paf_and_heat(case["hp_orig_heat"], case["hp_flip_heat"], case["hp_orig_paf"], flip_paf)
    np.testing.assert_array_equal(paf, case["hp_out_paf"])
    np.testing.assert_array_equal(heat, case["hp_out_heat"])
    np.testing.assert_array_equal(flip_paf, case["hp_flip_paf"])  # our version leaves its input alone


# ------------------------------------------------------------------------------------------ decode_pose

def assert_persons_equal(persons: np.ndarray, expected: np.ndarray) -> None:
    """Joint ids and counts exactly; each person's score (column 18, sums of float64 PAF dot products) to a few
    ulps: the official post.py itself gives 1-ulp differences from the stored scores on some CPUs (numpy's
    SIMD dot), and ours is bit-identical to it on the same machine."""
    assert persons.shape == expected.shape
    np.testing.assert_array_equal(np.delete(persons, -2, axis=1), np.delete(expected, -2, axis=1))
    np.testing.assert_allclose(persons[:, -2], expected[:, -2], rtol=1e-14, atol=0)


@pytest.mark.parametrize("frame", FRAMES)
def test_decode_pose_real_frames_exact(real: dict, frame: int) -> None:
    heat = real[f"f{frame}_heat_f32"].astype(np.float64)
    paf = real[f"f{frame}_paf_f32"].astype(np.float64)
    joint_list, persons = op.decode_pose(heat, paf, real[f"f{frame}_rgb"].shape[:2])
    np.testing.assert_array_equal(joint_list, real[f"f{frame}_joint_list"])
    assert_persons_equal(persons, real[f"f{frame}_person_to_joint_assoc"])
    points = op.joints18(joint_list)
    assert points.dtype == np.float64
    np.testing.assert_array_equal(points, real[f"f{frame}_joints18_from_f32"])
    np.testing.assert_array_equal(points, real[f"f{frame}_joints18"])


@pytest.mark.parametrize("case", SYNTHETIC_CASES)
def test_decode_pose_synthetic_exact(ref: Path, case: str) -> None:
    data = np.load(ref / "body_pose_decode_synthetic.npz")
    joint_list, persons = op.decode_pose(data[f"{case}__heat"], data[f"{case}__paf"], tuple(data[f"{case}__image_hw"]))
    np.testing.assert_array_equal(joint_list, data[f"{case}__joint_list"])
    assert_persons_equal(persons, data[f"{case}__person_to_joint_assoc"])
    np.testing.assert_array_equal(op.joints18(joint_list), data[f"{case}__joints18"])


def test_joints18_last_peak_of_each_type_wins() -> None:
    joint_list = np.array([[5, 6, 0.9, 0, 2], [7, 8, 0.5, 1, 2], [1, 2, 0.3, 2, 17]], dtype=float)
    points = op.joints18(joint_list)
    expected = -np.ones((18, 2))
    expected[2], expected[17] = (7, 8), (1, 2)
    np.testing.assert_array_equal(points, expected)
    np.testing.assert_array_equal(op.joints18(np.zeros((0, 5))), -np.ones((18, 2)))


# ------------------------------------------------------------------------------------------ detector

class _StoredOutputs(torch.nn.Module):
    """Stands in for the network: returns the fixture's raw outputs for each stored crop it is given."""

    def __init__(self, real: dict) -> None:
        super().__init__()
        self.table = {}
        for frame in FRAMES:
            for view in ("orig", "flip"):
                key = _sha(op.rtpose_preprocess(real[f"f{frame}_crop_bgr_{view}"]))
                self.table[key] = (real[f"f{frame}_raw_paf_{view}"], real[f"f{frame}_raw_heat_{view}"])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outs = [self.table[_sha(item.numpy())] for item in x]
        return tuple(torch.from_numpy(np.stack([o[i] for o in outs]).transpose(0, 3, 1, 2)) for i in (0, 1))


@pytest.mark.parametrize("batch_size", [1, 2])
def test_detector_pipeline_with_stored_network_outputs(real: dict, batch_size: int) -> None:
    detector = op.OpenPoseBody(pretrained=False, batch_size=batch_size)
    detector.model = _StoredOutputs(real)
    images = np.stack([real[f"f{frame}_rgb"] for frame in FRAMES])
    results = detector(images)
    assert detector.num_keypoints == 18 and len(results) == len(FRAMES)
    for frame, (points, visible) in zip(FRAMES, results):
        assert points.dtype == np.float64 and points.shape == (18, 2)
        assert visible.dtype == bool and visible.shape == (18,)
        np.testing.assert_array_equal(points, real[f"f{frame}_joints18"])
        np.testing.assert_array_equal(visible, real[f"f{frame}_joints18"][:, 0] != -1)


def test_detector_without_weights_file_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(MissingWeightsError, match="pose_model.pth"):
        op.OpenPoseBody(weights_dir=tmp_path)


@pytest.mark.slow
def test_detector_loads_weights_file(tmp_path: Path, recipe_weights: dict) -> None:
    torch.save({k: torch.from_numpy(v) for k, v in recipe_weights.items()}, tmp_path / "pose_model.pth")
    detector = op.OpenPoseBody(weights_dir=tmp_path)
    for key, value in detector.model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), recipe_weights[key])


@pytest.mark.slow
def test_detector_end_to_end_matches_extract_py(real: dict, recipe_weights: dict) -> None:
    detector = op.OpenPoseBody(pretrained=False, batch_size=2)
    detector.model.load_state_dict({k: torch.from_numpy(v) for k, v in recipe_weights.items()}, strict=True)
    maps, compute_maps = [], detector.maps

    def spy(images: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        maps.extend(compute_maps(images))
        return maps

    detector.maps = spy
    results = detector(np.stack([real[f"f{frame}_rgb"] for frame in FRAMES]))
    for frame, (paf, heat) in zip(FRAMES, maps):  # the decode_pose inputs
        np.testing.assert_allclose(paf, real[f"f{frame}_paf_f32"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(heat, real[f"f{frame}_heat_f32"], rtol=0, atol=1e-5)
    for frame, (points, visible) in zip(FRAMES, results):
        np.testing.assert_array_equal(points, real[f"f{frame}_joints18"])
        np.testing.assert_array_equal(visible, real[f"f{frame}_joints18"][:, 0] != -1)
