"""Method presets shipped in ``configs/methods/<method>/<dataset>.yaml`` (the ``model_params`` section)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.config import config_path, load_yaml
from bench.errors import ConfigError, UserError


def preset_path(method: str, dataset: str) -> Path:
    """Path of the preset of ``method`` for ``dataset`` (may not exist)."""
    return config_path("methods", method, f"{dataset}.yaml")


def preset_datasets(method: str) -> list[str]:
    """Datasets that ``method`` has a preset for."""
    folder = config_path("methods", method)
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def load_model_params(method: str, preset_or_file: str | Path) -> dict[str, Any]:
    """``model_params`` of a preset name (e.g. 'vox') or of a YAML file (ours or an official one).

    A file either has a top-level ``model_params`` section (as the official FOMM / MRAA files
    and our presets) or is the ``model_params`` mapping itself.
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
    return params
