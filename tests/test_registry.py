from importlib.metadata import EntryPoint

import pytest

import bench.registry as registry_module
from bench.errors import UserError
from bench.registry import Registry


def test_register_get_and_unknown_name_lists_choices():
    reg: Registry = Registry("widget", "motionbench.test-widgets")
    reg.register("a", 1)

    @reg.register("b")
    def make_b():
        return 2

    assert reg.get("a") == 1 and reg.get("b") is make_b
    assert reg.names() == ["a", "b"]
    with pytest.raises(UserError, match="unknown widget 'c'; choose from: a, b"):
        reg.get("c")


def test_double_registration_is_refused():
    reg: Registry = Registry("widget", "motionbench.test-widgets")
    reg.register("a", 1)
    with pytest.raises(ValueError):
        reg.register("a", 2)


def test_entry_points_add_plugins_without_editing_the_repo(monkeypatch):
    ep = EntryPoint(name="outside", value="math:sqrt", group="motionbench.test-plugins")
    monkeypatch.setattr(registry_module, "entry_points",
                        lambda group: [ep] if group == "motionbench.test-plugins" else [])
    reg: Registry = Registry("plugin", "motionbench.test-plugins")
    import math

    assert reg.get("outside") is math.sqrt
    assert "outside" in reg.names()


def test_builtin_registries_hold_copy_source():
    from bench.methods import METHODS, build_method

    assert "copy-source" in METHODS
    assert build_method("copy-source").name == "copy-source"
