"""The shipped conformance checks can fail: methods broken on purpose (copies of registered ones, or
new ones never registered) must make them fail, with a message that names the broken property.
Also: every tiny split has its own name, and SMOTE-NC is run on the mixed tabular split."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from benchmark.methods import ALL_MODALITIES, Method, Recipe, Stage, method_registry
from benchmark.methods.losses.class_weighting import WeightedCrossEntropy, inverse_frequency_weights
from benchmark.methods.losses.margin import LDAMLoss, LogitAdjustedLoss, ldam_margins
from benchmark.testing import ALL_TINY_SPLITS, MethodCheckError, check_method, method_checks, tiny_splits
from benchmark.testing._context import CheckOptions, applicable_cases

BIB = "@misc{broken2024, title={A method broken on purpose}}"


def run_check(method: Method, name: str, **kwargs) -> None:
    (check,) = [c for c in method_checks(method, **kwargs) if c.__name__ == name]
    check(method)


def made_up(build, family: str, **extra) -> Method:
    return Method(name=f"broken-{family}", build=build, family=family, modalities=extra.pop("modalities", ALL_MODALITIES),
                  summary="A method broken on purpose for the checks.", paper=BIB, **extra)


def test_ldam_drw_without_its_drw_schedule_fails():
    ldam_drw = method_registry.get("ldam-drw")

    def no_drw(params, ctx):  # the DRW parameters are still tuned, but never reach the loss
        return Recipe(loss=LDAMLoss(ldam_margins(ctx.class_counts, params["max_margin"]), params["scale"]))

    with pytest.raises(MethodCheckError, match=r"parameters reach components: tuning 'drw_(start|beta)'"):
        check_method(replace(ldam_drw, build=no_drw))


def test_balanced_softmax_with_tau_zero_fails():
    balanced_softmax = method_registry.get("balanced-softmax")
    tau_zero = replace(balanced_softmax, build=lambda params, ctx: Recipe(loss=LogitAdjustedLoss(ctx.class_counts, 0.0)))
    with pytest.raises(MethodCheckError, match="plain cross-entropy in every configuration"):
        check_method(tau_zero)


@pytest.mark.parametrize("family", ["loss", "over-sampling", "batch-sampling", "augmentation", "post-hoc"])
def test_an_empty_recipe_claiming_a_family_fails(family):
    modalities = ("image",) if family == "augmentation" else ALL_MODALITIES
    with pytest.raises(MethodCheckError, match="family hooks"):
        check_method(made_up(lambda params, ctx: Recipe(), family, modalities=modalities))


def test_the_real_methods_pass_the_checks_these_tests_break():
    for name in ("ldam-drw", "balanced-softmax"):
        for check in method_checks(name):
            if check.__name__ in ("check_parameters_reach", "check_loss", "check_family_hooks"):
                check(method_registry.get(name))


def test_a_loss_that_favours_the_majority_fails_the_direction_check():
    def inverted(params, ctx):  # weights proportional to the class counts: the wrong way round
        return Recipe(loss=WeightedCrossEntropy(1.0 / inverse_frequency_weights(ctx.class_counts)))

    with pytest.raises(MethodCheckError, match="loss direction"):
        run_check(made_up(inverted, "loss"), "check_loss")


def test_a_loss_that_is_not_cross_entropy_at_its_neutral_parameters_fails():
    focal = method_registry.get("focal-loss")
    run_check(focal, "check_loss")  # gamma = 0 (the shipped neutral parameters): cross-entropy
    with pytest.raises(MethodCheckError, match="neutral"):
        run_check(focal, "check_loss", neutral_params={})  # gamma left at its tuned value


def test_a_loss_that_rejects_or_misreads_soft_labels_fails():
    def rejects(logits, target, epoch):
        return torch.nn.functional.nll_loss(torch.log_softmax(logits, 1), target)  # class indices only

    def misreads(logits, target, epoch):  # reads a soft target's first column as the label
        hard = target if target.dim() == 1 else target[:, 0].long()
        return torch.nn.functional.cross_entropy(logits, hard)

    for loss in (rejects, misreads):
        with pytest.raises(MethodCheckError, match="soft labels"):
            run_check(made_up(lambda params, ctx, f=loss: Recipe(loss=f), "loss"), "check_loss")


def test_an_over_sampler_short_of_its_target_or_touching_the_majority_fails():
    class HalfWay:
        space = "features"

        def resample(self, X, y, seed):
            counts = np.bincount(y)
            extra = np.concatenate([np.flatnonzero(y == c)[: (counts.max() - n) // 2] for c, n in enumerate(counts)])
            return np.concatenate([X, X[extra]]), np.concatenate([y, y[extra]])

    with pytest.raises(MethodCheckError, match="below the target"):
        run_check(made_up(lambda params, ctx: Recipe(resample=HalfWay()), "over-sampling"), "check_over_sampling")


def test_a_cleaning_rule_that_removes_minority_rows_fails():
    class DropsEveryTenth:
        space = "features"

        def resample(self, X, y, seed):
            keep = np.arange(len(y)) % 10 != 0
            return X[keep], y[keep]

    with pytest.raises(MethodCheckError, match="smallest class"):
        run_check(made_up(lambda params, ctx: Recipe(resample=DropsEveryTenth()), "cleaning"), "check_under_sampling")


def test_a_batch_sampler_that_only_shuffles_fails():
    class Shuffle:
        def batch_indices(self, epoch, state):
            return torch.randperm(state.y.numel(), generator=state.generator)

    with pytest.raises(MethodCheckError, match="draws the rarest class"):
        run_check(made_up(lambda params, ctx: Recipe(batch_sampler=Shuffle()), "batch-sampling"), "check_batch_sampler")


def test_an_augmentation_that_changes_labels_or_range_fails():
    class Relabel:
        def augment(self, x, y, state):
            return x.flip(-1), (y + 1) % state.num_classes

    class Brighten:
        def augment(self, x, y, state):
            return x + 0.5, y

    for broken in (Relabel(), Brighten()):
        method = made_up(lambda params, ctx, b=broken: Recipe(augment=b), "augmentation", modalities=("image",))
        with pytest.raises(MethodCheckError, match="labels|range"):
            run_check(method, "check_augmentation")


def test_stage_fractions_that_do_not_sum_to_one_fail():
    def stages(params, ctx):
        return Recipe(stages=[Stage("first", 0.7), Stage("second", 0.7, train="head")])

    with pytest.raises(MethodCheckError, match="sum to one"):
        run_check(made_up(stages, "two-stage"), "check_stages")


def test_a_tuned_parameter_that_goes_nowhere_fails():
    def ignores_gamma(params, ctx):
        return Recipe(loss=LogitAdjustedLoss(ctx.class_counts, 1.0))

    method = made_up(ignores_gamma, "loss", search_space=lambda trial, ctx: {"gamma": trial.suggest_float("gamma", 0, 5)})
    with pytest.raises(MethodCheckError, match="tuning 'gamma'"):
        run_check(method, "check_parameters_reach")
    run_check(method, "check_parameters_reach", inert_params={"gamma": "declared inert, with this reason"})


def test_not_applicable_must_come_from_applies_to_and_leave_a_split_to_run():
    class SilentlyRefuses(Method):
        def not_applicable_reason(self, split, engine, config=None):
            return "not applicable here"

    silent = SilentlyRefuses(**{**vars(method_registry.get("class-weighted-ce"))})
    with pytest.raises(MethodCheckError, match="not a sentence from its applies_to"):
        run_check(silent, "check_applicability")
    refuses_all = replace(method_registry.get("class-weighted-ce"),
                          applies_to=lambda split: f"{split.dataset} is refused by this broken method")
    with pytest.raises(MethodCheckError, match="applies to none of the tiny"):
        run_check(refuses_all, "check_applicability")


def test_tiny_splits_have_distinct_names_and_smote_nc_runs_on_the_mixed_one():
    names = [s.dataset for modality in ALL_TINY_SPLITS for s in tiny_splits(modality)]
    assert len(names) == len(set(names)) and "tiny-tabular-numeric" in names
    cases = applicable_cases(method_registry.get("smote-nc"), CheckOptions())
    assert {c.split.dataset for c in cases} == {"tiny-tabular"} and {c.engine for c in cases} == {"deep", "classical"}
