"""The one Registry type: decorators, discovery, entry-point plugins, helpful misses."""

from __future__ import annotations

import types

import pytest

from benchmark import registry as registry_module
from benchmark.errors import BenchmarkError, UnknownNameError
from benchmark.methods import Recipe, method_registry
from benchmark.methods.base import Method
from benchmark.registry import Registry


def test_decorator_registers_and_returns_the_object():
    reg: Registry = Registry("widget")

    @reg.register("round-widget", size=3)
    def build():
        return "built"

    assert build() == "built"
    assert reg.get("round-widget") is build
    assert reg.names() == ["round-widget"]


def test_make_entry_wraps_metadata():
    reg: Registry = Registry("widget", make_entry=lambda obj, name, **meta: (name, obj, meta))
    reg.register("w", colour="red")(len)
    assert reg.get("w") == ("w", len, {"colour": "red"})


def test_miss_names_closest_match_and_alternatives():
    reg: Registry = Registry("method")
    for name in ("smote", "borderline-smote", "focal-loss"):
        reg.add(name, object())
    with pytest.raises(UnknownNameError) as err:
        reg.get("smoet")
    message = str(err.value)
    assert "did you mean 'smote'" in message
    assert "focal-loss" in message and "list methods" in message


def test_resolve_reports_every_unknown_name():
    reg: Registry = Registry("dataset")
    reg.add("a", 1)
    with pytest.raises(UnknownNameError) as err:
        reg.resolve(["a", "b", "c"])
    assert "'b'" in str(err.value) and "'c'" in str(err.value)


def test_duplicate_names_are_refused():
    reg: Registry = Registry("suite")
    reg.add("x", 1)
    with pytest.raises(BenchmarkError, match="registered twice"):
        reg.add("x", 2)


def test_pattern_filter():
    reg: Registry = Registry("dataset")
    for name in ("keel-yeast3", "keel-ecoli1", "digits-lt"):
        reg.add(name, name)
    assert reg.names("keel-*") == ["keel-ecoli1", "keel-yeast3"]


def test_builtin_discovery_finds_every_module():
    names = method_registry.names()
    assert {"baseline", "smote", "focal-loss", "class-weighted-ce"} <= set(names)


def test_entry_point_plugins_are_loaded(monkeypatch):
    plugin = Method(name="plugin-method", build=lambda p, c: Recipe(), family="plugin", modalities=("tabular",),
                    summary="A method from a third-party package.", paper="")
    module = types.ModuleType("fake_plugin")

    class FakeEntryPoint:
        def __init__(self, name, obj):
            self.name, self.value, self._obj = name, f"fake:{name}", obj

        def load(self):
            return self._obj

    def fake_entry_points(group):
        assert group == "benchmark.methods"
        return [FakeEntryPoint("plugin-method", plugin), FakeEntryPoint("module-plugin", module)]

    monkeypatch.setattr(registry_module, "entry_points", fake_entry_points)
    reg: Registry = Registry("method", entry_point_group="benchmark.methods")
    assert reg.get("plugin-method") is plugin
    assert reg.names() == ["plugin-method"]


def test_broken_plugin_is_reported_with_its_name(monkeypatch):
    class Broken:
        name, value = "broken", "broken_pkg:thing"

        def load(self):
            raise ImportError("no module named broken_pkg")

    monkeypatch.setattr(registry_module, "entry_points", lambda group: [Broken()])
    reg: Registry = Registry("method", entry_point_group="benchmark.methods")
    with pytest.raises(BenchmarkError, match="plugin 'broken'"):
        reg.names()
