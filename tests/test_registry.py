"""The one Registry type: decorators, discovery, entry-point plugins, helpful misses."""

from __future__ import annotations

import importlib
import types

import pytest

from benchmark import registry as registry_module
from benchmark.errors import BenchmarkError, UnknownNameError
from benchmark.methods import FAMILIES, FAMILY_TABLE, Recipe, method_registry, register_method
from benchmark.methods.base import Method, ordered_families
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


def test_discovery_walks_subpackages_and_skips_private_modules(tmp_path, monkeypatch):
    root = tmp_path / "fake_methods"
    (root / "family" / "_hidden").mkdir(parents=True)
    for path in ("__init__.py", "family/__init__.py", "family/_hidden/__init__.py"):
        (root / path).write_text("")
    (root / "top.py").write_text("from fake_methods import REG\nREG.add('top', 1)\n")
    (root / "family" / "deep_row.py").write_text("from fake_methods import REG\nREG.add('deep-row', 2)\n")
    (root / "family" / "_helper.py").write_text("raise AssertionError('a private helper was imported')\n")
    (root / "family" / "_hidden" / "row.py").write_text("raise AssertionError('a private package was walked')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry = Registry("widget", package="fake_methods")
    import fake_methods

    monkeypatch.setattr(fake_methods, "REG", reg, raising=False)
    assert registry_module.public_modules("fake_methods") == [
        "fake_methods.family", "fake_methods.family.deep_row", "fake_methods.top"]
    assert reg.names() == ["deep-row", "top"]


def test_discovery_registers_the_methods_of_every_family_folder():
    from benchmark.methods import augmentation, generative, losses, resampling, stages

    by_module: dict[str, set[str]] = {}
    for name, method in method_registry.items():
        by_module.setdefault(method.build.__module__.rsplit(".", 1)[0], set()).add(name)
    for package in (resampling, losses, augmentation, stages, generative):
        assert by_module.get(package.__name__), f"no method registered from {package.__name__}"
    assert {"smote", "tomek-links", "smote-enn", "hard-negative-mining"} <= by_module["benchmark.methods.resampling"]
    assert {"focal-loss", "drw", "ldam"} <= by_module["benchmark.methods.losses"]
    assert {"crt", "eos", "two-stage-learning"} <= by_module["benchmark.methods.stages"]
    assert {"deepsmote", "ldmlr", "tabddpm-oversampling"} <= by_module["benchmark.methods.generative"]
    # 92 rows before the generative family, every one still registered, 10 generative rows, and issue 18's
    # 3 self-supervised (ssp-rotation, ssp-simclr, vime-ssl) and 2 semi-supervised rows, and issue 30's affine and
    # duplicate-removal-undersampling.
    assert len(method_registry) == 109
    assert {"affine", "duplicate-removal-undersampling"} <= set(method_registry.names())
    assert {"pseudo-labelling", "fixmatch-da"} <= by_module["benchmark.methods.semi_supervised"]


def test_every_public_method_module_registers_a_method():
    """Helpers are ``_``-prefixed; every other module of benchmark.methods (but the contract, base)
    registers at least one row."""
    modules = {name for name in registry_module.public_modules("benchmark.methods")
               if not hasattr(importlib.import_module(name), "__path__")}
    registering = {method.build.__module__ for _, method in method_registry.items()}
    assert modules - registering == {"benchmark.methods.base"}
    assert registering <= modules


def test_every_method_declares_one_of_the_families():
    for name, method in method_registry.items():
        assert method.family in FAMILIES, (name, method.family)
    assert len(set(FAMILIES)) == len(FAMILIES) == len(FAMILY_TABLE)
    assert all(len(f.description.split()) >= 4 for f in FAMILY_TABLE)
    # every family has a method, so the list holds no dead entry (combined rows are composed on lookup)
    assert {m.family for _, m in method_registry.items()} == set(FAMILIES) - {"combination"}
    assert method_registry.get("smote+focal-loss").family == "combination"


def test_unknown_family_is_refused_with_the_valid_ones():
    with pytest.raises(BenchmarkError) as err:
        register_method("new-row", family="oversampling", modalities=("tabular",), summary="", paper="")(
            lambda params, ctx: Recipe())
    message = str(err.value)
    assert "'oversampling'" in message and "new-row" in message
    assert all(f in message for f in FAMILIES)
    assert "new-row" not in method_registry


def test_families_are_listed_in_the_documented_order():
    assert ordered_families({"loss", "unregistered", "baseline", "over-sampling"}) == [
        "baseline", "over-sampling", "loss", "unregistered"]


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
    with pytest.warns(registry_module.PluginWarning, match="entry point 'broken'.*no module named broken_pkg"):
        assert reg.names() == []  # a broken plugin is a warning: the rest of the registry still works
    assert "broken" in reg.plugin_errors


@pytest.mark.slow  # starts processes (the CLI or workers): seconds, kept out of -m 'not slow'
def test_names_are_found_in_any_case_and_stored_in_the_registered_spelling(tmp_path):
    """`--methods SMOTE` and `--datasets KEEL-Yeast3` name the registered rows (issue 29): the pairs a run
    plans carry the registered spelling, so the store never holds a row twice under two spellings."""
    import json
    import subprocess
    import sys

    from benchmark.datasets import dataset_registry
    from benchmark.methods import method_registry

    assert method_registry.get("SMOTE").name == "smote" and "Focal-Loss" in method_registry
    assert method_registry.get("SMOTE+Focal-Loss").name == "smote+focal-loss"
    assert dataset_registry.canonical("KEEL-Yeast3") == "keel-yeast3"
    assert method_registry.canonical("no-such-row") == "no-such-row"
    done = subprocess.run([sys.executable, "-m", "benchmark", "run", "--suite", "smoke", "--methods", "SMOTE,Baseline",
                           "--datasets", "KEEL-Yeast3", "--plan", "--format", "json",
                           "--storage", f"sqlite:///{tmp_path / 'r.db'}"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    text = json.dumps(json.loads(done.stdout))
    assert "smote" in text and "SMOTE" not in text and "KEEL" not in text
