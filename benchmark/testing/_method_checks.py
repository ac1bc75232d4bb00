"""Checks every method gets: its card, its family's hook (from its record in
:data:`~benchmark.methods.FAMILY_TABLE`), where it applies, that its tuned
parameters reach its components, and a real run through each engine on every tiny split it applies to."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.methods.base import FAMILIES, Method, MethodContext, family
from benchmark.testing._context import (
    CheckOptions,
    applicable_cases,
    config_for,
    fail,
    main_cases,
    main_engine,
)
from benchmark.testing._probe import (
    cheapest_params,
    fingerprint,
    low_values,
    random_draws,
    same,
    scripted_params,
    two_values,
)
from benchmark.testing._resampling_checks import ResampleSpy, check_training_rows_only, held_out_digest
from benchmark.testing._splits import ALL_TINY_SPLITS, tiny_splits


def recipe_hooks(recipe) -> set[str]:
    """The recipe's hooks, with those its stages set (a stage's loss counts as a loss)."""
    hooks = set(recipe.hooks())
    for stage in recipe.stages or []:
        hooks |= {name for name in ("loss", "batch_sampler", "augment") if getattr(stage, name) is not None}
    return hooks


def check_card(method: Method, options: CheckOptions) -> None:
    """A leaderboard row names its family, its data, its paper (BibTeX) and says what it does."""
    if method.family not in FAMILIES:
        fail(method, "card", f"family {method.family!r} is not one of {', '.join(FAMILIES)}")
    if not method.modalities or any(m not in ALL_TINY_SPLITS for m in method.modalities):
        fail(method, "card", f"modalities {method.modalities} must be some of {', '.join(ALL_TINY_SPLITS)}")
    if len(method.summary.split()) < 4:
        fail(method, "card", f"the summary {method.summary!r} does not say what the method does")
    if not method.paper_key and family(method.family).is_remedy:
        fail(method, "card", "the paper is not a BibTeX entry (@article{key, ...})")


def check_family_hooks(method: Method, options: CheckOptions) -> None:
    """The recipe switches on one of the hooks its family's record names (``Family.hooks``; an empty
    recipe is only the baseline's), on every engine it claims."""
    if method.family not in FAMILIES:
        fail(method, "family hooks", f"family {method.family!r} is not one of {', '.join(FAMILIES)}")
    wanted = family(method.family).hooks
    for case in applicable_cases(method, options):
        params = random_draws(method, case.context(), n=1)[0]
        hooks = recipe_hooks(method.build(params, case.context()))
        if wanted == ():
            if hooks:
                fail(method, "family hooks", f"a {method.family} recipe must be empty; it sets {sorted(hooks)}")
            continue
        if not hooks or (wanted is not None and not hooks & set(wanted)):
            fail(method, "family hooks", f"its family is {method.family}, so its recipe must set "
                                         f"{'one of ' + str(sorted(wanted)) if wanted else 'a hook'}; on "
                                         f"{case.split.dataset} ({case.engine}) it sets {sorted(hooks) or 'nothing'}")


def check_applicability(method: Method, options: CheckOptions) -> None:
    """Every modality the method claims has a tiny split it applies to; every refusal is a sentence
    that comes from the method's own ``applies_to`` (not a silent skip)."""
    for modality in method.modalities:
        config = config_for(method, modality, options.config)
        runnable, refused = [], []
        for split in tiny_splits(modality):
            for engine in method.engines:
                reason = method.not_applicable_reason(split, engine, config)
                if reason is None:
                    runnable.append(split.dataset)
                    continue
                declared = method.applies_to(split) if method.applies_to is not None else None
                if not isinstance(reason, str) or len(reason.split()) < 3 or reason != declared:
                    fail(method, "applicability", f"{split.dataset} ({engine}) was refused with {reason!r}, which is "
                                                  "not a sentence from its applies_to")
                refused.append(f"{split.dataset}: {reason}")
        if not runnable:
            fail(method, "applicability", f"it claims {modality} data but applies to none of the tiny {modality} "
                                          f"splits ({'; '.join(refused)})")


def check_parameters_reach(method: Method, options: CheckOptions) -> None:
    """Each tuned parameter changes what the recipe does: the recipe built with two values of its range
    (every value of a categorical one) behaves differently on the same input, on some tiny split."""
    found: dict[str, list[tuple[Any, dict, tuple]]] = {}
    for case in main_cases(method, options):
        ctx = case.context()
        for draw in random_draws(method, ctx, n=4):
            _, distributions = scripted_params(method, ctx, draw)
            for name, distribution in distributions.items():
                found.setdefault(name, []).append((case, draw, distribution))
    for name, tries in found.items():
        if name in options.inert_params:
            continue  # declared, with the reason, in CheckOptions.inert_params
        usable = [(case, base, d) for case, base, d in tries if len(two_values(d)) > 1]
        # first with the other parameters at their cheapest, then at the draws themselves (a parameter
        # may matter only beside others: ENN's kind_sel does nothing with one neighbour)
        if usable and not any(_changes_behaviour(method, name, case, base, d, cheap)
                              for cheap in (True, False) for case, base, d in usable):
            fail(method, "parameters reach components", f"tuning {name!r} over {two_values(usable[0][2])} changes "
                                                        "nothing the recipe does on any tiny split: the value is not used")


def _changes_behaviour(method: Method, name: str, case, base: dict, distribution: tuple, cheap: bool) -> bool:
    ctx = case.context()
    _, distributions = scripted_params(method, ctx, base)
    others = low_values(base, distributions) if cheap else base
    prints = [fingerprint(method.build(scripted_params(method, ctx, {**others, name: v})[0], ctx), case.split,
                          case.engine, case.config) for v in two_values(distribution)]
    return any(not same(prints[0], p) for p in prints[1:])


class AdjustSpy:
    """Wraps an ``adjust`` component: records the rows ``fit`` was given."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.fit_rows: list[int] = []

    def __getattr__(self, name: str) -> Any:  # attach, fitted: only where the component has them
        return getattr(self.inner, name)

    def fit(self, val_logits, val_y, train_counts) -> None:
        self.fit_rows.append(len(val_y))
        if hasattr(self.inner, "fit"):
            self.inner.fit(val_logits, val_y, train_counts)

    def adjust(self, logits):
        return self.inner.adjust(logits)


def check_runs_on_every_tiny_split(method: Method, options: CheckOptions) -> None:
    """Each engine the method claims trains it on every tiny split it applies to (two quick epochs)
    and predicts the test rows: the resample hook sees the training rows only, post-hoc adjustment
    is fitted on the validation rows, and neither the validation nor the test arrays change."""
    from benchmark.training import get_engine

    main, seen = main_engine(method), set()
    for case in applicable_cases(method, options):
        # the main engine on every split; another engine on the first split of each modality it applies
        # to (the splits exercise the method, the engines their hooks: this halves the time)
        if case.engine != main and (case.engine, case.split.modality) in seen:
            continue
        seen.add((case.engine, case.split.modality))
        split, where = case.split, f"{case.split.dataset} ({case.engine})"
        ctx = MethodContext.from_split(split, case.engine, epochs=case.config.epochs)
        params = cheapest_params(method, ctx)
        recipe = method.build(params, ctx)
        spy = recipe.resample = ResampleSpy(recipe.resample) if recipe.resample is not None else None
        adjust_spy = recipe.adjust = AdjustSpy(recipe.adjust) if recipe.adjust is not None else None
        digest = held_out_digest(split)
        model = get_engine(case.engine).fit(split, recipe, case.config, seed=0, device="cpu")
        proba = model.predict_proba(split.test.X)
        if spy is not None:
            check_training_rows_only(method, spy, split, digest, where)
        if adjust_spy is not None and adjust_spy.fit_rows != [len(split.val)]:
            fail(method, "runs", f"adjust was fitted on {adjust_spy.fit_rows} rows on {where}, not the "
                                 f"{len(split.val)} validation rows")
        if held_out_digest(split) != digest:
            fail(method, "runs", f"training changed the validation or test rows of {where}")
        if proba.shape != (len(split.test), split.num_classes) or not np.isfinite(proba).all() \
                or not np.allclose(proba.sum(axis=1), 1.0, atol=1e-5):
            fail(method, "runs", f"predict_proba on {where} gave shape {proba.shape}, non-finite values or rows "
                                 "that do not sum to one")
