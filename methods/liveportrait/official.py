"""The official LivePortrait weights: five files, one per sub-network (``InferenceConfig.checkpoint_F/M/W/G/S``
of KwaiVGI/LivePortrait, under ``pretrained_weights/liveportrait/``), read as a folder by
:func:`bench.checkpoints.read_checkpoint` and mapped here onto the method's sub-networks."""
from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Mapping

from bench.errors import CheckpointError

#: sub-network -> its file, relative to the official ``pretrained_weights/liveportrait`` folder
OFFICIAL_FILES = {
    "appearance_feature_extractor": "base_models/appearance_feature_extractor.pth",
    "motion_extractor": "base_models/motion_extractor.pth",
    "warping_module": "base_models/warping_module.pth",
    "spade_generator": "base_models/spade_generator.pth",
    "stitching_retargeting_module": "retargeting_models/stitching_retargeting_module.pth",
}
#: the entries of the stitching/retargeting file (one state dict each; ``utils/helper.load_model``)
STITCHING_ENTRIES = ("retarget_shoulder", "retarget_mouth", "retarget_eye")
WHERE = ("put LivePortrait's official files (huggingface.co/KwaiVGI/LivePortrait, pretrained_weights/liveportrait) "
         "in a folder as base_models/{appearance_feature_extractor,motion_extractor,warping_module,spade_generator}"
         ".pth and retargeting_models/stitching_retargeting_module.pth and pass that folder")


def _file(data: Mapping[str, Any], relative: str, where: str) -> Mapping[str, Any]:
    """The contents of one official file, by its official relative path or its bare name."""
    for key in (relative, PurePosixPath(relative).name):
        if isinstance(data.get(key), Mapping):
            return data[key]
    raise CheckpointError(f"{where} has no {relative}: {WHERE}")


def _stitching_state(contents: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The three state dicts as one, prefixed by their entry; ``module.`` (a DistributedDataParallel save)
    removed as the official ``remove_ddp_dumplicate_key`` removes it."""
    state = {}
    for entry in STITCHING_ENTRIES:
        if not isinstance(contents.get(entry), Mapping):
            raise CheckpointError(f"{where}: stitching_retargeting_module.pth has no '{entry}' state dict "
                                  f"(entries: {', '.join(map(str, contents))})")
        state.update({f"{entry}.{key.replace('module.', '')}": value for key, value in contents[entry].items()})
    return state


def official_state(data: Mapping[str, Any], where: str = "checkpoint") -> dict[str, Any]:
    """``{sub-network: state dict}`` from the folder's contents (``{relative path: file contents}``); a missing
    file is a one-line error naming it and where the files go."""
    state = {net: _file(data, relative, where) for net, relative in OFFICIAL_FILES.items()}
    state["stitching_retargeting_module"] = _stitching_state(state["stitching_retargeting_module"], where)
    return state
