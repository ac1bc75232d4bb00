"""Which shipped checks a method gets, chosen from its own declaration, as imbalanced-learn picks its
common checks from an estimator's tags.

Every method gets its card, its family's hooks, where it applies and that its tuned parameters reach
its components; then the checks its family's record names (``Family.checks`` in
:data:`~benchmark.methods.FAMILY_TABLE`: the family's promise, such as an over-sampler reaching its
target); then :func:`check_recipe_hooks`, the checks of the other hooks its recipe switches on; last,
the runs through its engines. The family's checks are known without building anything, so a test
suite's collection builds no recipe: :func:`check_recipe_hooks` builds them when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmark.errors import BenchmarkError
from benchmark.methods.base import FAMILIES, Method, family
from benchmark.testing._component_checks import (
    check_adjust,
    check_augmentation,
    check_batch_sampler,
    check_classifier,
    check_loss,
    check_stages,
)
from benchmark.testing._context import CheckOptions, applicable_cases
from benchmark.testing._method_checks import (
    check_applicability,
    check_card,
    check_family_hooks,
    check_parameters_reach,
    check_runs_on_every_tiny_split,
    recipe_hooks,
)
from benchmark.testing._probe import random_draws
from benchmark.testing._resampling_checks import (
    check_combined_sampling,
    check_over_sampling,
    check_resampling,
    check_under_sampling,
)

Check = Callable[[Method, CheckOptions], None]


@dataclass(frozen=True)
class HookCheck:
    """A shipped check of one recipe hook. ``any_recipe``: the check every recipe that switches the hook
    on gets (one per hook); a check without it holds a family's promise about the hook, and only the
    families whose record names it get it (it runs the hook's contract too)."""

    run: Check
    hook: str
    any_recipe: bool = True


# The shipped checks a family may name (Family.checks), keyed by that name. ``pretrain`` and
# ``class_weight`` have no check of their own: the engine runs exercise the one, the loss check of a
# loss family the other.
HOOK_CHECKS: dict[str, HookCheck] = {
    "resampling": HookCheck(check_resampling, "resample"),
    "over_sampling": HookCheck(check_over_sampling, "resample", any_recipe=False),
    "under_sampling": HookCheck(check_under_sampling, "resample", any_recipe=False),
    "combined_sampling": HookCheck(check_combined_sampling, "resample", any_recipe=False),
    "loss": HookCheck(check_loss, "loss"),
    "batch_sampler": HookCheck(check_batch_sampler, "batch_sampler"),
    "augmentation": HookCheck(check_augmentation, "augment"),
    "stages": HookCheck(check_stages, "stages"),
    "adjust": HookCheck(check_adjust, "adjust"),
    "classifier": HookCheck(check_classifier, "classifier"),
}

# The checks of every method, before its family's and after them.
FIRST_CHECKS: tuple[Check, ...] = (check_card, check_family_hooks, check_applicability, check_parameters_reach)
LAST_CHECKS: tuple[Check, ...] = (check_runs_on_every_tiny_split,)


def family_checks(method: Method) -> list[str]:
    """The names of the shipped checks the method's family names (none for a family not in the table:
    its card check fails)."""
    if method.family not in FAMILIES:
        return []
    names = list(family(method.family).checks)
    unknown = [n for n in names if n not in HOOK_CHECKS]
    if unknown:
        raise BenchmarkError(f"family {method.family!r} names the check(s) {unknown}, which are not shipped checks",
                             f"name some of {', '.join(HOOK_CHECKS)} in its record in benchmark/methods/_families.py, "
                             "or add the check to benchmark.testing.HOOK_CHECKS")
    return names


def recipe_hook_checks(method: Method, hooks: set[str]) -> list[str]:
    """The names of the checks of ``hooks`` (a recipe's, recipe and stage level) that the method's
    family's checks do not already examine."""
    examined = {HOOK_CHECKS[name].hook for name in family_checks(method)}
    return [name for name, c in HOOK_CHECKS.items() if c.any_recipe and c.hook in hooks and c.hook not in examined]


def check_recipe_hooks(method: Method, options: CheckOptions) -> None:
    """The checks of the hooks the method's recipe switches on (its first configuration on every tiny
    split and engine it applies to) beyond those its family's checks examine: a loss in a mixing
    recipe gets the loss checks, a batch sampler in a stage the sampler checks."""
    hooks: set[str] = set()
    for case in applicable_cases(method, options):
        ctx = case.context()
        hooks |= recipe_hooks(method.build(random_draws(method, ctx, n=1)[0], ctx))
    for name in recipe_hook_checks(method, hooks):
        HOOK_CHECKS[name].run(method, options)


def declared_checks(method: Method) -> list[Check]:
    """Every check the method gets, in order, chosen from its declaration alone (nothing is built)."""
    return [*FIRST_CHECKS, *(HOOK_CHECKS[name].run for name in family_checks(method)), check_recipe_hooks,
            *LAST_CHECKS]
