"""The family -> hook -> check rule is declared once (the family table of benchmark/methods/_families.py),
and the shipped checks are chosen from a method's own declaration: its family's record, the hooks its
recipe switches on (found when the checks run, never at collection), and the neutral and inert
parameters given to ``register_method``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch

from benchmark.methods import ALL_MODALITIES, FAMILIES, FAMILY_TABLE, Method, Recipe, method_registry
from benchmark.methods.base import CLASSICAL_HOOKS, DEEP_HOOKS, _make_method
from benchmark.methods.losses.example_weighting import FocalLoss, focal_space
from benchmark.registry import Registry
from benchmark.testing import HOOK_CHECKS, MethodCheckError, method_checks, parametrize_with_checks
from benchmark.testing._context import CheckOptions
from benchmark.testing._selection import check_recipe_hooks, recipe_hook_checks

PACKAGE = Path(__file__).resolve().parents[2] / "benchmark"
TABLE_HOME = PACKAGE / "methods" / "_families.py"
BIB = "@misc{probe2024, title={A method made for the selection tests}}"


def names(method: Method, **kwargs) -> list[str]:
    return [c.__name__ for c in method_checks(method, **kwargs)]


def made_up(build, family: str, **extra) -> Method:
    return Method(name=f"probe-{family}", build=build, family=family, modalities=extra.pop("modalities", ALL_MODALITIES),
                  summary="A method made for the selection tests.", paper=BIB, **extra)


def test_no_module_writes_the_family_table_a_second_time():
    """A second copy of the table (families as the keys of a dict, or listed in a tuple) anywhere in the
    package, a Family record made outside the table, or a check that compares a family with a name
    instead of reading the family's record, fails here with the file and line."""
    copies = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == TABLE_HOME:
            continue
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            items = ([k for k in node.keys if k is not None] if isinstance(node, ast.Dict)
                     else node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [])
            listed = {i.value for i in items if isinstance(i, ast.Constant) and i.value in FAMILIES}
            if len(listed) >= 4:
                copies.append(f"{path.relative_to(PACKAGE)}:{node.lineno} lists the families {sorted(listed)}")
        for number, line in enumerate(text.splitlines(), 1):
            if re.search(r"\bFamily\(", line):
                copies.append(f"{path.relative_to(PACKAGE)}:{number} makes a Family record: {line.strip()}")
            if path.parent.name == "testing" and re.search(r"\.family\s*(==|!=|in\b|not in\b)\s*[\"'(\[{]", line):
                copies.append(f"{path.relative_to(PACKAGE)}:{number} decides by a family's name: {line.strip()}")
    assert not copies, "the family table is declared once, in benchmark/methods/_families.py:\n" + "\n".join(copies)


def test_the_table_names_recipe_hooks_and_shipped_checks():
    for family in FAMILY_TABLE:
        assert family.hooks is None or set(family.hooks) <= DEEP_HOOKS | CLASSICAL_HOOKS, family
        assert set(family.checks) <= set(HOOK_CHECKS), family
        for name in family.checks:  # a family's check examines one of the hooks the family switches on
            assert family.hooks and HOOK_CHECKS[name].hook in family.hooks, (family.name, name)
    assert [f.name for f in FAMILY_TABLE if not f.is_remedy] == ["baseline"]
    assert {c.hook for c in HOOK_CHECKS.values() if c.any_recipe} == {c.hook for c in HOOK_CHECKS.values()}


def test_a_method_registered_with_neutral_params_gets_the_neutral_param_check():
    """The loss check reads the neutral parameters the method declared where it was registered: the
    focal loss is cross-entropy at gamma 0 (passes), not at gamma 1 (fails, naming them), and with none
    declared its tuned gamma is not cross-entropy (fails)."""
    registry: Registry[Method] = Registry("method", make_entry=_make_method)

    def focal(params, ctx):
        return Recipe(loss=FocalLoss(params.get("gamma", 2.0), params.get("alpha", 0.25), ctx.num_classes))

    for name, neutral in (("declared", {"gamma": 0.0, "alpha": 0.5}), ("wrong", {"gamma": 1.0, "alpha": 0.5}),
                          ("undeclared", None)):
        extra = {"neutral_params": neutral} if neutral is not None else {}
        registry.register(name, family="loss", modalities=("tabular",), summary="Focal loss for the selection test.",
                          paper=BIB, search_space=focal_space, **extra)(focal)
    declared = registry.get("declared")
    assert declared.neutral_params == {"gamma": 0.0, "alpha": 0.5}
    (check,) = [c for c in method_checks(declared) if c.__name__ == "check_loss"]
    check(declared)
    for name, shown in (("wrong", "'gamma': 1.0"), ("undeclared", "(its defaults)")):
        method = registry.get(name)
        (check,) = [c for c in method_checks(method) if c.__name__ == "check_loss"]
        with pytest.raises(MethodCheckError, match=re.escape(shown)):
            check(method)


def test_declared_parameters_are_on_the_registered_rows_and_their_combinations():
    assert method_registry.get("focal-loss").neutral_params == {"gamma": 0.0, "alpha": 0.5}
    assert "allow_minority" in method_registry.get("all-knn").inert_params
    combined = method_registry.get("all-knn+focal-loss")
    assert combined.neutral_params == {"focal-loss.gamma": 0.0, "focal-loss.alpha": 0.5}
    assert set(combined.inert_params) == {"all-knn.allow_minority"}
    with pytest.raises(Exception, match="without a reason"):
        made_up(lambda params, ctx: Recipe(), "loss", inert_params={"gamma": ""})


def test_checks_follow_the_family_record():
    first = ["check_card", "check_family_hooks", "check_applicability", "check_parameters_reach"]
    last = ["check_recipe_hooks", "check_runs_on_every_tiny_split"]
    assert names(method_registry.get("smote")) == [*first, "check_over_sampling", *last]
    assert names(method_registry.get("tomek-links")) == [*first, "check_under_sampling", *last]
    assert names(method_registry.get("focal-loss")) == [*first, "check_loss", *last]
    assert names(method_registry.get("baseline")) == [*first, *last]
    mixing = made_up(lambda params, ctx: Recipe(), "mixing")
    assert recipe_hook_checks(mixing, {"augment", "loss"}) == ["loss"]  # its family's check examines augment
    assert recipe_hook_checks(method_registry.get("smote"), {"resample"}) == []
    assert recipe_hook_checks(method_registry.get("baseline"), {"resample", "stages"}) == ["resampling", "stages"]


def test_a_hook_beyond_the_family_is_checked_when_the_checks_run():
    class Flip:
        def augment(self, x, y, state):
            return x.flip(-1), y

    def rejects_soft_labels(logits, target, epoch):
        return torch.nn.functional.nll_loss(torch.log_softmax(logits, 1), target)

    method = made_up(lambda params, ctx: Recipe(augment=Flip(), loss=rejects_soft_labels), "augmentation",
                     modalities=("image",))
    with pytest.raises(MethodCheckError, match="soft labels"):
        check_recipe_hooks(method, CheckOptions())


def test_collection_builds_no_recipe():
    built = []

    def build(params, ctx):
        built.append(ctx)
        return Recipe(loss=FocalLoss(2.0, 0.25, ctx.num_classes))

    method = made_up(build, "loss", search_space=focal_space)
    mark = parametrize_with_checks([method])
    assert built == [] and len(mark.args[1]) == len(names(method)) == 7
