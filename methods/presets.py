"""Method presets shipped in ``configs/methods/<method>/<dataset>.yaml`` (the ``model_params`` section)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from bench.config import config_path, load_yaml
from bench.errors import ConfigError, UserError


def preset_path(method: str, dataset: str) -> Path:
    """Path of the preset of ``method`` for ``dataset`` (may not exist)."""
    return config_path("methods", method, f"{dataset}.yaml")


def preset_datasets(method: str) -> list[str]:
    """Datasets that ``method`` has a preset for."""
    folder = config_path("methods", method)
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def official_animation(animate_params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``animation`` section equivalent to an official YAML's ``animate_params``: FOMM's
    ``normalization_params`` (``adapt_movement_scale``, ``use_relative_movement``,
    ``use_relative_jacobian``) and MRAA's ``mode`` (``num_pairs`` and ``format`` only shape the
    official scripts' output)."""
    animation = dict(animate_params.get("normalization_params") or {})
    if "mode" in animate_params:
        animation["mode"] = animate_params["mode"]
    return animation


def load_model_params(method: str, preset_or_file: str | Path) -> dict[str, Any]:
    """``model_params`` of a preset name (e.g. 'vox') or of a YAML file (ours or an official one).

    A file either has a top-level ``model_params`` section (as the official FOMM / MRAA files
    and our presets) or is the ``model_params`` mapping itself. An official file's
    ``animate_params`` become the ``animation`` section (:func:`official_animation`) unless
    ``model_params`` has one.
    """
    path = Path(preset_or_file)
    if not path.is_file():
        path = preset_path(method, str(preset_or_file))
        if not path.is_file():
            choices = ", ".join(preset_datasets(method)) or "none"
            raise UserError(f"no {method} preset '{preset_or_file}' and no such file (presets: {choices})")
    data = load_yaml(path)
    params = data.get("model_params", data)
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: model_params must be a mapping")
    animate = data.get("animate_params")
    animation = official_animation(animate) if isinstance(animate, Mapping) else {}
    if animation and "animation" not in params:
        params = {**params, "animation": animation}
    return params
