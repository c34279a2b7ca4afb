"""LivePortrait: the official file layout, forward passes equal to the official code (networks at a small and the
official size, the pipeline's six modes), the official weights folder, config errors, evaluation-only, presets and
``bench run`` (fixtures: ``tests/fixtures/official-liveportrait.pt`` and ``liveportrait-spec.json``, made by
``tests/fixtures/make_official_liveportrait.py`` with the official code; tolerances read from them)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from bench.checkpoints import CheckpointError
from bench.cli import main
from bench.errors import ConfigError
from bench.methods import build_method
from bench.methods.liveportrait import OFFICIAL_FILES, LivePortrait, build_liveportrait
from bench.methods.liveportrait.motion import transform_keypoint
from bench.methods.presets import load_model_params, preset_datasets
from tests.fixtures.make_official_tpsmm_losses import materialize  # the weight recipes, as the generator wrote them

FIXTURES = Path(__file__).with_name("fixtures")
SPEC = json.loads((FIXTURES / "liveportrait-spec.json").read_text())
# trusted project material written by the official code (plain dicts of tensors); its cases parametrize the tests
FX = torch.load(FIXTURES / "official-liveportrait.pt", weights_only=False)
NETWORK_CASES = [case for case in FX["cases"] if case.startswith("networks")]
MODES = list(FX["cases"]["pipeline"]["modes"])
STITCHING = "stitching_retargeting_module"

pytestmark = pytest.mark.usefixtures("one_thread")  # as the official-code fixtures were made


@pytest.fixture(scope="module")
def fx() -> dict[str, Any]:
    return FX


def official_files(fx: dict[str, Any], case: str) -> dict[str, Any]:
    """The case's weights as the official files hold them, keyed by their path in the official folder."""
    weights = fx["weights"][case]
    return {relative: ({e: materialize(sd) for e, sd in weights[net].items()} if net == STITCHING
                       else materialize(weights[net])) for net, relative in fx["files"].items()}


def params_of(fx: dict[str, Any], case: str, **animation: Any) -> dict[str, Any]:
    size = fx["cases"][case]["image_size"]
    return {**fx["configs"][case], "input_size": size, "animation": animation}


def errors(got: Any, expected: Any, prefix: str = "") -> dict[str, float]:
    """Max |got - expected| per flattened key of ``expected``; sampled entries (``index``/``values``/``shape``)
    compared at their indices."""
    out: dict[str, float] = {}
    for key, ref in expected.items():
        value = got[key]
        if isinstance(ref, dict) and "index" not in ref:
            out.update(errors(value, ref, f"{prefix}{key}."))
            continue
        value = torch.as_tensor(value).detach().double()
        if isinstance(ref, dict):
            assert list(value.shape) == ref["shape"], key
            value, ref = value.flatten()[ref["index"]], ref["values"]
        assert value.shape == ref.shape, f"{key}: shape {tuple(value.shape)} != {tuple(ref.shape)}"
        out[prefix + key] = (value - ref.double()).abs().max().item()
    return out


def assert_within(found: dict[str, float], tolerances: dict[str, float]) -> None:
    over = {k: (v, tolerances[k]) for k, v in found.items() if v > tolerances[k]}
    assert not over, f"over tolerance (error, tolerance): {over}"


# ----------------------------------------------------------------------------- the official layout

def test_official_configuration_builds_exactly_the_official_files_keys_and_shapes():
    params = load_model_params("liveportrait", "vox")
    assert {k: v for k, v in params.items() if k not in ("input_size", "animation")} == SPEC["model_params"]
    with torch.device("meta"):
        model = build_liveportrait(params)
    assert model.config.output_size == 512 and SPEC["files"] == OFFICIAL_FILES
    for name, net in model.networks().items():
        shapes = SPEC["state_dict_shapes"][name]
        if name == STITCHING:  # one state dict per entry of the file
            shapes = {f"{entry}.{k}": v for entry, sd in shapes.items() for k, v in sd.items()}
        assert {k: list(v.shape) for k, v in net.state_dict().items()} == shapes, name
        assert sum(p.numel() for p in net.parameters()) == SPEC["num_parameters"][name], name


def test_presets_build_and_the_datasets_share_the_official_configuration(fx):
    vox = load_model_params("liveportrait", "vox")
    tiny = load_model_params("liveportrait", "synthetic")  # the small configuration the official code was run at
    assert {k: v for k, v in tiny.items() if k not in ("input_size", "animation")} == fx["configs"]["networks-small"]
    assert set(preset_datasets("liveportrait")) >= {"vox", "dfdc", "nemo", "taichi", "mgif", "synthetic"}
    for name in preset_datasets("liveportrait"):
        params = load_model_params("liveportrait", name)
        if name in ("vox", "synthetic"):
            with torch.device("meta"):
                build_method("liveportrait", params)
        assert name == "synthetic" or params == vox, name
        assert params["animation"] == {"relative_motion": True, "stitching": True,
                                       "driving_option": "expression-friendly", "driving_multiplier": 1.0}


# ----------------------------------------------------------------------------- official-code fixtures

@pytest.mark.parametrize("case", NETWORK_CASES)
def test_networks_equal_the_official_code(fx, case):
    """Motion extractor, keypoint transform, appearance features, stitching, warping and decoding (one driving
    frame at a time, as the official wrapper is called), the retargeting MLPs."""
    data = fx["cases"][case]
    model = build_method("liveportrait", params_of(fx, case), official_files(fx, case), official=True)
    source, driving = data["inputs"]["source"], data["inputs"]["driving"]
    with torch.no_grad():
        state, info = model.source_state(source), model.motion(driving)
        x_s, x_d = state["x_s"], transform_keypoint(info)
        stitched = model.stitching_retargeting_module.stitch(x_s.expand_as(x_d), x_d)
        frames = [model.warp_decode(state["feature"], x_s, stitched[i:i + 1]) for i in range(len(driving))]
        mlps, ratios = model.stitching_retargeting_module, data["retarget_ratios"]
        flat = x_s.reshape(1, -1).repeat(2, 1)
        got = {k: torch.cat([f[k] for f in frames]) for k in frames[0]}
        got.update(motion_raw_source=model.motion_extractor(source), motion_raw_driving=model.motion_extractor(driving),
                   kp_info_source=state["info"], kp_info_driving=info, rotation_source=state["info"]["R"],
                   rotation_driving=info["R"], x_s=x_s, x_d=x_d, feature_3d=state["feature"], stitched=stitched,
                   retarget_lip=mlps.retarget_mouth(torch.cat([flat, ratios["lip"]], 1)).view(2, -1, 3),
                   retarget_eye=mlps.retarget_eye(torch.cat([flat, ratios["eye"]], 1)).view(2, -1, 3))
    assert_within(errors(got, data["outputs"]), data["tolerances"])


def pipeline_model(fx: dict[str, Any], flags: dict[str, Any]) -> LivePortrait:
    animation = {"relative_motion": flags["flag_relative_motion"], "stitching": flags["flag_stitching"],
                 "driving_option": flags.get("driving_option", "expression-friendly"),
                 "driving_multiplier": flags.get("driving_multiplier", 1.0)}
    return build_method("liveportrait", params_of(fx, "pipeline", **animation), official_files(fx, "pipeline"), official=True)


def pipeline_inputs(fx: dict[str, Any], flags: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    inputs = fx["cases"]["pipeline"]["inputs"]  # uint8, as the pipeline reads its files (/ 255 exactly)
    return inputs[flags["source"]].float() / 255, inputs["driving"].float() / 255


@pytest.mark.parametrize("mode", MODES)
def test_pipeline_keypoints_equal_the_official_loop(fx, mode):
    """``LivePortraitPipeline.execute`` (source image, driving video) in each mode: the source and driving motion,
    the keypoints handed to ``warp_decode`` and the expression-friendly multiplier."""
    case = fx["cases"]["pipeline"]["modes"][mode]
    model, flags = pipeline_model(fx, case["flags"]), case["flags"]
    source, driving = pipeline_inputs(fx, flags)
    with torch.no_grad():
        out = model.keypoint_details(source, driving, driving[:1], relative=flags["flag_relative_motion"])
    expected = {k: v for k, v in case["outputs"].items() if k.startswith(("x_s", "kp_", "motion_multiplier"))}
    got = {"x_s": out["source"]["x_s"][:1], "kp_driving": out["kp_driving"], "kp_info_driving": out["driving"],
           "kp_info_source": {k: v[:1] for k, v in out["source"]["info"].items()}}
    if "motion_multiplier" in out:
        got["motion_multiplier"] = out["motion_multiplier"][0].view(())
    assert set(expected) == {"x_s", "kp_driving", "kp_info_driving", "kp_info_source"} | (
        {"motion_multiplier"} if flags["flag_relative_motion"] and "driving_option" not in flags else set())
    assert_within(errors(got, expected), case["tolerances"])


@pytest.mark.parametrize("mode", [m if m == "relative" else pytest.param(m, marks=pytest.mark.slow) for m in MODES])
def test_pipeline_warp_and_decode_equal_the_official_loop(fx, mode):
    """The official loop's warp/decode outputs at 256 px for the last driving frame (the pipeline decodes one
    frame at a time; the stored outputs are seeded samples of all frames); the default animation mode by default,
    every mode with -m slow."""
    case = fx["cases"]["pipeline"]["modes"][mode]
    model, flags = pipeline_model(fx, case["flags"]), case["flags"]
    source, driving = pipeline_inputs(fx, flags)
    with torch.no_grad():
        kp = model.keypoint_details(source, driving, driving[:1], relative=flags["flag_relative_motion"])
        last = model.warp_decode(kp["source"]["feature"][:1], kp["source"]["x_s"][:1], kp["kp_driving"][-1:])
    found, first = {}, len(driving) - 1
    for key in ("warped", "occlusion_map", "deformation", "image"):
        ref = case["outputs"][key]
        if isinstance(ref, torch.Tensor):  # small enough to be stored whole
            ref = {"shape": list(ref.shape), "index": torch.arange(ref.numel()), "values": ref.flatten()}
        assert ref["shape"] == [len(driving), *last[key].shape[1:]], key
        per_frame = last[key][0].numel()
        keep = ref["index"] >= per_frame * first
        value = last[key].flatten()[ref["index"][keep] - per_frame * first]
        found[key] = (value.double() - ref["values"][keep].double()).abs().max().item()
    assert_within(found, case["tolerances"])
    assert model.config.output_size == last["image"].shape[-1] == 512


# ----------------------------------------------------------------------------- the official weights folder

def write_folder(folder: Path, files: dict[str, Any]) -> Path:
    for relative, contents in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        torch.save(contents, folder / relative)
    return folder


def test_official_folder_loads_strictly_and_a_missing_file_is_named(fx, tmp_path):
    files = official_files(fx, "networks-small")
    folder = write_folder(tmp_path / "liveportrait", files)
    (folder / "landmark.onnx").write_bytes(b"not read")
    model = build_method("liveportrait", params_of(fx, "networks-small"), folder, official=True)
    stitching = model.stitching_retargeting_module.state_dict()
    for entry, state in files[OFFICIAL_FILES[STITCHING]].items():  # 'module.' prefixes removed as the official loader
        assert all(torch.equal(stitching[f"{entry}.{k.removeprefix('module.')}"], v) for k, v in state.items())
    motion = model.motion_extractor.state_dict()
    assert all(torch.equal(motion[k], v) for k, v in files[OFFICIAL_FILES["motion_extractor"]].items())
    flat = write_folder(tmp_path / "flat", {Path(r).name: c for r, c in files.items()})  # the five files side by side
    build_method("liveportrait", params_of(fx, "networks-small"), flat, official=True)
    (folder / OFFICIAL_FILES["warping_module"]).unlink()
    with pytest.raises(CheckpointError, match=r"has no base_models/warping_module\.pth: put LivePortrait's official"):
        build_method("liveportrait", params_of(fx, "networks-small"), folder, official=True)
    wrong = {**files, OFFICIAL_FILES[STITCHING]: {"retarget_shoulder": {}}}
    with pytest.raises(CheckpointError, match="has no 'retarget_mouth' state dict"):
        build_method("liveportrait", params_of(fx, "networks-small"), wrong, official=True)


def test_bench_run_official_folder_on_the_synthetic_set(fx, tmp_path):
    """``bench run --official --checkpoint FOLDER``: the run evaluates what ``build_method(..., official=True)`` builds and records
    the folder's hash and the animation options (input size 32: the 64-px frames resized in, decoded at 64)."""
    from tests.run_support import first_video_l1, summary

    folder = write_folder(tmp_path / "weights", official_files(fx, "networks-small"))
    params = {**params_of(fx, "networks-small", relative_motion=True, stitching=False), "input_size": 32}
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model_params": params}))
    out = tmp_path / "out"
    assert main(["run", "--method", "liveportrait", "--official", "--checkpoint", str(folder), "--config", str(config),
                 "--dataset", "synthetic", "--task", "reconstruction", "--max-videos", "1", "--refs", "0",
                 "--metrics", "l1", "--no-track", "--out", str(out)]) == 0
    run = summary(out)["run"]
    assert run["origin"] == "official" and len(run["checkpoint_sha256"]) == 64
    assert run["config"]["animation"] == {"relative_motion": True, "stitching": False}
    expected = first_video_l1(build_method("liveportrait", params, folder, official=True))
    assert summary(out)["means"]["l1"] == pytest.approx(expected, abs=1e-5)


# ----------------------------------------------------------------------------- protocol and errors

def test_frames_are_resized_in_and_out_and_the_layout_does_not_matter(fx):
    """32-px frames: resized to the model's 64, decoded at 128, returned at 32; channels-last weights (4-D only:
    the 3-D convolutions have no such layout) give the same frames within the official layout noise."""
    model = build_method("liveportrait", params_of(fx, "networks-small"), official_files(fx, "networks-small"), official=True)
    frames = torch.nn.functional.interpolate(fx["cases"]["networks-small"]["inputs"]["driving"], size=(32, 32),
                                             mode="bilinear", antialias=True)
    with torch.no_grad():
        plain = model.animate(frames[:1].expand_as(frames), frames, frames[:1].expand_as(frames))
        decoded = model.details(frames[:1], frames, frames[:1], relative=True)["image"]
        model.to(memory_format=torch.channels_last)
        assert model.spade_generator.fc.weight.is_contiguous(memory_format=torch.channels_last)
        layout = model.animate(frames[:1], frames.contiguous(memory_format=torch.channels_last), frames[:1])
    assert plain.shape == frames.shape and decoded.shape[-1] == 128 and 0 <= plain.min() and plain.max() <= 1
    resized = torch.nn.functional.interpolate(decoded, size=(32, 32), mode="bilinear", antialias=True)
    assert torch.allclose(plain, resized, atol=1e-6)
    assert (plain - layout).abs().max() <= fx["cases"]["networks-small"]["tolerances"]["image"]


@pytest.mark.parametrize("override, key", [
    ({"motion_extractor_params": {"num_kp": 20}}, "motion_extractor_params.num_kp"),
    ({"animation": {"driving_option": "pose"}}, "animation.driving_option"),
    ({"spade_generator_params": {"upscale": 4}}, "spade_generator_params.upscale"),
    ({"warping_module_params": {"reshape_channel": 16}}, "warping_module_params"),
    ({"input_size": 48}, "input_size"),
])
def test_config_errors_name_the_key(override, key):
    params = load_model_params("liveportrait", "synthetic")
    for section, value in override.items():
        params[section] = {**params[section], **value} if isinstance(value, dict) else value
    with pytest.raises(ConfigError, match=f"config key '{key}"):
        build_liveportrait(params)


def test_bench_train_refuses_an_evaluation_only_method(capsys):
    assert main(["train", "--method", "liveportrait", "--dataset", "synthetic"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "evaluation-only" in err and "--official --checkpoint" in err
