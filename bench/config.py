"""YAML configs: safe loading, ``--set a.b=value`` overrides and dataclass validation."""
from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from contextvars import ContextVar
from importlib.resources import files
from pathlib import Path
from typing import Any, Mapping

import yaml

from bench.errors import ConfigError, UserError


def load_yaml(path: str | Path, loader: type = yaml.SafeLoader) -> dict[str, Any]:
    """Read a YAML mapping with the safe loader (or a subclass of it); errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file not found: {p}")
    if not issubclass(loader, yaml.SafeLoader):
        raise TypeError("load_yaml only takes safe loaders")
    try:
        data = yaml.load(p.read_text(), Loader=loader)  # noqa: S506 - a SafeLoader subclass, checked above
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"malformed YAML in {p}{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping, got {type(data).__name__}")
    return data


def config_path(*parts: str) -> Path:
    """Path of a YAML file shipped in ``configs/`` (works installed or from a checkout)."""
    return Path(str(files("bench.configs").joinpath(*parts)))


def apply_overrides(config: Mapping[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Return a copy of ``config`` with ``key.sub=value`` overrides applied (values parsed as YAML)."""
    out = copy.deepcopy(dict(config))
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got '{item}'")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise ConfigError(f"--set has an empty key in '{item}'")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: '{part}' is a value, not a section")
            node = child
        node[parts[-1]] = value
    return out


def check_type(value: Any, tp: Any, key: str) -> Any:
    """``value`` checked against type annotation ``tp`` (ConfigError naming ``key`` when it does not fit)."""
    return _check_type(value, tp, key)


def _check_type(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        options = tuple(option for option in options if option is not type(None))
        if len(options) == 1:  # an optional value: the error of its one type names the problem
            return _check_type(value, options[0], key)
        for option in options:
            try:
                return _check_type(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"config key '{key}': {value!r} is not a valid {tp}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"config key '{key}': expected null, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
        return from_dict(tp, value, prefix=key)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        items = [_check_type(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
        return dict(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key '{key}': expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"config key '{key}': expected {tp.__name__}, got {value!r}")
    return value


def _dataclass_of(tp: Any) -> type | None:
    """The dataclass of an annotation (``X`` or ``X | None``), else None."""
    options = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    found = [o for o in options if dataclasses.is_dataclass(o)]
    return found[0] if found else None


def config_paths(cls: type, prefix: str = "") -> list[str]:
    """Every key path of config dataclass ``cls`` (``common_params``, ``common_params.num_kp``, ...)."""
    paths = []
    for name, hint in typing.get_type_hints(cls).items():
        path = f"{prefix}.{name}" if prefix else name
        paths.append(path)
        nested = _dataclass_of(hint)
        if nested is not None:
            paths += config_paths(nested, path)
    return paths


#: the config dataclass being validated (the root of the key paths suggested for an unknown key)
_ROOT: ContextVar[type | None] = ContextVar("config_root", default=None)


def nearest_keys(name: str, root: type) -> list[str]:
    """Valid key paths near ``name``: those ending in its last part (``num_kp`` -> ``common_params.num_kp``), else
    the closest spellings."""
    paths = config_paths(root)
    last = name.rsplit(".", 1)[-1]
    same = [p for p in paths if p.rsplit(".", 1)[-1] == last]
    return same[:3] or difflib.get_close_matches(name, paths, n=3, cutoff=0.6)


def from_dict(cls: type, data: Mapping[str, Any], prefix: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys (with the nearest valid paths) and wrong types raise
    ConfigError naming the key."""
    token = _ROOT.set(cls) if not prefix else None
    try:
        return _from_dict(cls, data, prefix)
    finally:
        if token is not None:
            _ROOT.reset(token)


def _from_dict(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        name = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        near = nearest_keys(name, _ROOT.get() or cls)
        hint = f"; did you mean {' or '.join(repr(p) for p in near)}?" if near else ""
        raise ConfigError(f"unknown config key '{name}'{hint} (valid here: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _check_type(value, hints[name], key)
    missing = [n for n, f in fields.items() if n not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        name = f"{prefix}.{missing[0]}" if prefix else missing[0]
        raise ConfigError(f"missing config key '{name}'")
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain-dict view of a (nested) config dataclass."""
    return dataclasses.asdict(obj)
