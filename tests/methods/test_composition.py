"""Combined rows (issue 20): ``smote+focal-loss`` built from its registered parts.

Each hook comes from the part that sets it; two parts on one hook are refused in one line naming both
and the hook, except deferred re-weighting with a loss; the parts' parameters are prefixed and reach
their components; the shipped conformance checks run on combined rows of each kind."""

from __future__ import annotations

import pickle

import numpy as np
import optuna
import pytest
import torch

from benchmark.errors import BenchmarkError, UnknownNameError
from benchmark.methods import FAMILIES, MethodContext, method_registry
from benchmark.methods._composition import CompositionError, compose_method, merge_recipes, part_params
from benchmark.methods.losses.deferred_reweighting import DeferredReweightedCrossEntropy
from benchmark.methods.losses.example_weighting import FocalLoss
from benchmark.methods.losses.margin import LDAMLoss
from benchmark.report.citation import unique_entries
from benchmark.testing import make_image_split, make_tabular_split, parametrize_with_checks
from tests.test_cli import cli

IMAGE = MethodContext("image", "deep", 3, (40, 20, 8), (2,), epochs=10)
BINARY = MethodContext("tabular", "deep", 2, (120, 20), (1,), epochs=10)


def space(method, ctx) -> dict:
    return method.search_space(optuna.create_study(sampler=optuna.samplers.RandomSampler(0)).ask(), ctx)


def test_each_hook_comes_from_the_part_that_sets_it():
    method = method_registry.get("class-balanced-sampling+mixup+drw")
    assert method.family == "combination" and method.parts == ("class-balanced-sampling", "mixup", "drw")
    params = space(method, IMAGE)
    recipe = method.build(params, IMAGE)
    own = part_params(method.parts, params)
    for part, hook in (("class-balanced-sampling", "batch_sampler"), ("mixup", "augment"), ("drw", "loss")):
        alone = method_registry.get(part).build(own[part], IMAGE)
        assert type(getattr(recipe, hook)) is type(getattr(alone, hook)), hook
        assert recipe.hooks() == {"batch_sampler", "augment", "loss"}
    assert recipe.loss.schedule.start_epoch == method_registry.get("drw").build(own["drw"], IMAGE).loss.schedule.start_epoch


def test_a_stage_method_keeps_its_stages_and_the_loss_part_applies_in_every_stage():
    method = method_registry.get("crt+focal-loss")
    assert method.name == "focal-loss+crt"  # loss before stages: the order a run meets the hooks
    recipe = method.build(space(method, IMAGE), IMAGE)
    assert [s.name for s in recipe.stages] == ["representation", "classifier-retraining"]
    assert isinstance(recipe.loss, FocalLoss) and all(s.loss is None for s in recipe.stages)


def test_the_order_of_the_parts_does_not_make_another_row():
    a = method_registry.get("drw+mixup+class-balanced-sampling")
    b = method_registry.get("class-balanced-sampling+mixup+drw")
    assert a.name == b.name == "class-balanced-sampling+mixup+drw"
    assert method_registry.get("focal-loss+smote").name == "smote+focal-loss"
    assert "smote+focal-loss" in method_registry and "smote+focal-loss" not in method_registry.names()
    assert [m.name for m in method_registry.resolve(["focal-loss+smote", "baseline"])] == ["smote+focal-loss",
                                                                                           "baseline"]


@pytest.mark.parametrize(("name", "hook"), [
    ("focal-loss+ldam", "loss"),
    ("smote+random-oversampling", "resample"),
    ("class-balanced-sampling+square-root-sampling", "batch_sampler"),
    ("crt+two-stage-learning", "stages"),
    ("threshold-moving+posthoc-logit-adjustment", "adjust"),
    ("balanced-bagging+easy-ensemble", "classifier"),
    ("mixup+remix", "augment"),
    ("ghm-c+drw", "loss"),
    ("ldam-drw+drw", "loss"),
])
def test_two_parts_on_one_hook_are_refused_in_one_line(name, hook):
    with pytest.raises(CompositionError) as caught:
        method_registry.get(name)
    message = str(caught.value)
    assert "\n" not in message
    first, second = name.split("+")
    assert f"'{first}'" in message and f"'{second}'" in message and f"both set the {hook} hook" in message


def test_drw_switches_its_weights_on_in_the_other_loss():
    logits, target = torch.randn(16, 3, generator=torch.Generator().manual_seed(0)), torch.arange(16) % 3
    params = {"ldam.max_margin": 0.5, "ldam.scale": 10.0, "drw.drw_start": 0.5, "drw.drw_beta": 0.999}
    combined = method_registry.get("ldam+drw").build(params, IMAGE).loss
    ldam_drw = method_registry.get("ldam-drw").build({"max_margin": 0.5, "scale": 10.0, "drw_start": 0.5,
                                                      "drw_beta": 0.999}, IMAGE).loss
    assert isinstance(combined, LDAMLoss)
    for epoch in (0, 4, 5, 9):  # ldam+drw is exactly LDAM-DRW, before and after the switch at epoch 5
        assert torch.allclose(combined(logits, target, epoch), ldam_drw(logits, target, epoch))

    focal = method_registry.get("focal-loss+drw").build({"focal-loss.gamma": 2.0, "drw.drw_start": 0.5,
                                                         "drw.drw_beta": 0.999}, IMAGE).loss
    plain = FocalLoss(2.0, num_classes=3)
    assert torch.allclose(focal(logits, target, 4), plain(logits, target, 4))  # before the switch: focal
    weights = focal.schedule.class_weights
    weighted = FocalLoss(2.0, num_classes=3, weights=weights.numpy())
    assert torch.allclose(focal(logits, target, 5), weighted(logits, target, 5))  # after: DRW's weights
    assert not torch.allclose(focal(logits, target, 5), plain(logits, target, 5))
    assert plain.schedule is None  # the part's own loss object is not changed


def test_merge_rules_without_the_registry():
    drw = DeferredReweightedCrossEntropy(method_registry.get("drw").build({}, IMAGE).loss.schedule)
    from benchmark.methods.base import Recipe

    merged = merge_recipes([("a", Recipe(loss=FocalLoss(2.0))), ("b", Recipe(loss=drw, adjust=object()))])
    assert isinstance(merged.loss, FocalLoss) and merged.loss.schedule is drw.schedule and merged.adjust is not None
    with pytest.raises(CompositionError, match="'a' and 'b': both set the resample hook"):
        merge_recipes([("a", Recipe(resample=object())), ("b", Recipe(resample=object()))])


def test_each_part_gets_its_own_parameters_and_they_reach_its_component():
    method = method_registry.get("smote+focal-loss")
    drawn = space(method, BINARY)
    assert {"smote.k_neighbors", "focal-loss.gamma", "focal-loss.alpha"} <= set(drawn)
    assert all(key.split(".")[0] in method.parts for key in drawn)
    base = {**drawn, "smote.k_neighbors": 1, "focal-loss.gamma": 0.5, "focal-loss.alpha": 0.25}
    assert method.build({**base, "focal-loss.gamma": 4.0}, BINARY).loss.gamma == 4.0
    assert method.build(base, BINARY).loss.gamma == 0.5
    split = make_tabular_split(nominal=False)
    X, y = split.train.X, split.train.y
    near = method.build(base, BINARY).resample.resample(X, y, seed=0)[0]
    far = method.build({**base, "smote.k_neighbors": 7}, BINARY).resample.resample(X, y, seed=0)[0]
    assert near.shape == far.shape and not np.allclose(near, far)
    with pytest.raises(BenchmarkError, match="'gamma' of the combined method smote\\+focal-loss names no part"):
        method.build({"gamma": 2.0}, BINARY)


def test_modalities_engines_and_applicability_come_from_the_parts():
    both = method_registry.get("random-oversampling+class-weighted-ce")
    assert both.engines == ("deep", "classical") and set(both.modalities) == {"image", "text", "tabular"}
    assert method_registry.get("class-balanced-sampling+mixup").modalities == ("image",)
    with pytest.raises(BenchmarkError, match="has no engine every part runs on"):
        method_registry.get("focal-loss+balanced-bagging")
    smote_nc = method_registry.get("smote-nc")
    combined = method_registry.get("smote-nc+focal-loss")
    numeric = make_tabular_split(nominal=False)
    assert combined.applies_to(numeric) == smote_nc.applies_to(numeric) is not None
    assert combined.not_applicable_reason(make_image_split(), "deep") is not None


def test_bad_names_are_refused_with_the_reason():
    with pytest.raises(UnknownNameError, match="did you mean 'smote'.*a part of the combined method"):
        method_registry.get("smot+focal-loss")
    with pytest.raises(BenchmarkError, match="no remedy"):
        method_registry.get("baseline+smote")
    with pytest.raises(BenchmarkError, match="names smote twice"):
        method_registry.get("smote+smote")
    with pytest.raises(BenchmarkError, match="empty part"):
        compose_method("smote+")
    assert compose_method("smote") is None
    assert "smote+random-oversampling" not in method_registry  # refused: not an entry


def test_the_card_cites_every_part():
    method = method_registry.get("smote+focal-loss")
    assert "combination" in FAMILIES
    card = method.card()
    assert [(p["name"], p["paper_key"]) for p in card["parts"]] == [("smote", "chawla2002smote"),
                                                                   ("focal-loss", "lin2017focal")]
    entries = unique_entries([(method.name, method.paper)])
    assert [bib.split(",")[0] for _, bib in entries] == ["@article{chawla2002smote", "@inproceedings{lin2017focal"]


def test_a_combined_row_travels_to_worker_processes():
    method = pickle.loads(pickle.dumps(method_registry.get("smote+focal-loss")))
    recipe = method.build({"smote.k_neighbors": 3, "focal-loss.gamma": 1.0, "focal-loss.alpha": 0.5}, BINARY)
    assert recipe.hooks() == {"resample", "loss"}


# The shipped conformance checks, on combined rows of each kind: resampler + loss, sampler + mixing + DRW,
# a stage schedule + a loss, and a row both engines run.
@parametrize_with_checks(["smote+focal-loss", "class-balanced-sampling+mixup+drw", "focal-loss+crt",
                          "random-oversampling+class-weighted-ce"])
def test_combined_rows_pass_the_shipped_checks(method, check):
    check(method)


@pytest.mark.slow  # starts processes (the CLI or workers): seconds, kept out of -m 'not slow'
def test_a_conflict_on_the_command_line_exits_2_with_one_line(tmp_path):
    result = cli("run", "--suite", "smoke", "--methods", "focal-loss+ldam",
                 "--storage", f"sqlite:///{tmp_path / 'store.db'}", cwd=tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "'focal-loss' and 'ldam'" in lines[0] and "loss hook" in lines[0], lines


def test_the_tricks_suite_crosses_its_documented_parts():
    from benchmark.suites import suite_registry

    suite, vision = suite_registry.get("tricks"), suite_registry.get("vision-lt")
    assert suite.datasets == vision.datasets and suite.training == vision.training
    methods = method_registry.resolve(suite.methods)
    assert [m.name for m in methods] == list(suite.methods)  # every name composes and is canonical
    combined = [m for m in methods if m.parts]
    singles = {m.name for m in methods if not m.parts}
    assert len(combined) >= 12 and all(set(m.parts) <= singles for m in combined)
    assert all("image" in m.modalities for m in methods)
    families = {method_registry.get(p).family for m in combined for p in m.parts}
    assert {"batch-sampling", "loss", "mixing"} <= families
