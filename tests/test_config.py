from dataclasses import dataclass, field

import pytest

from bench.config import apply_overrides, from_dict, load_yaml
from bench.errors import ConfigError, UserError


@dataclass
class Inner:
    rate: float = 0.1
    steps: int = 3


@dataclass
class Outer:
    name: str
    flag: bool = True
    sizes: list[int] = field(default_factory=list)
    inner: Inner = field(default_factory=Inner)
    maybe: int | None = None


def test_overrides_parse_yaml_values_and_create_sections():
    cfg = apply_overrides({"a": {"b": 1}}, ["a.b=2.5", "a.c=true", "d.e=[1, 2]", "name=fomm"])
    assert cfg == {"a": {"b": 2.5, "c": True}, "d": {"e": [1, 2]}, "name": "fomm"}


def test_overrides_do_not_mutate_input():
    base = {"a": {"b": 1}}
    apply_overrides(base, ["a.b=5"])
    assert base == {"a": {"b": 1}}


@pytest.mark.parametrize("bad", ["novalue", "=3", "a..b=1"])
def test_malformed_override_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        apply_overrides({}, [bad])


def test_override_into_a_value_names_the_key():
    with pytest.raises(ConfigError, match="'a' is a value"):
        apply_overrides({"a": 1}, ["a.b=2"])


def test_from_dict_builds_nested_and_coerces_int_to_float():
    obj = from_dict(Outer, {"name": "x", "inner": {"rate": 1}, "sizes": [1, 2]})
    assert obj.inner.rate == 1.0 and isinstance(obj.inner.rate, float)
    assert obj.sizes == [1, 2] and obj.flag is True and obj.maybe is None


@pytest.mark.parametrize("data,key", [
    ({"name": "x", "inner": {"steps": "three"}}, "inner.steps"),
    ({"name": "x", "flag": 1}, "flag"),
    ({"name": "x", "inner": {"speed": 2}}, "inner.speed"),
    ({"flag": True}, "name"),
    ({"name": "x", "sizes": [1, "a"]}, r"sizes\[1\]"),
])
def test_from_dict_errors_name_the_key(data, key):
    with pytest.raises(ConfigError, match=key):
        from_dict(Outer, data)


def test_load_yaml_is_safe_and_reports_malformed(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\nb: 3\n")
    with pytest.raises(ConfigError, match="malformed YAML"):
        load_yaml(bad)
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("a: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError):
        load_yaml(unsafe)
    with pytest.raises(UserError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")
