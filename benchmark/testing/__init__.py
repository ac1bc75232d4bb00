"""Tiny splits and the conformance checks of methods, for this project's tests and plugin authors' own.

Tiny splits (built in memory, no data files): ``make_image_split``, ``make_text_split``,
``make_tabular_split`` (and the binary-image and nominal-only splits); ``TINY_SPLITS`` maps each
modality to its main builder, :func:`tiny_splits` gives every split of a modality, and
``tiny_config()`` is a two-epoch training setting small enough for two CPU cores.

Conformance checks, as imbalanced-learn's and scikit-learn's ``estimator_checks``: every method
gets its card, family-hook, applicability, parameter and engine-run checks; the checks of the
hooks its recipe sets follow (resampling counts by family, loss properties, batch-sampler balance,
augmentation invariants, stage fractions, post-hoc direction, classifier determinism). Run them
with :func:`check_method` or, in a test suite, with :func:`parametrize_with_checks`::

    from benchmark.testing import parametrize_with_checks

    @parametrize_with_checks(["my-loss"], neutral_params={"my-loss": {"gamma": 0.0}})
    def test_my_method(method, check):
        check(method)

A failing check raises :class:`MethodCheckError` naming the method, the check, the tiny split and
what it saw. A check that needs a model or corpus this machine lacks
(:class:`~benchmark.errors.ResourceUnavailableError`) is skipped under pytest with that message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from benchmark.errors import ResourceUnavailableError
from benchmark.methods.base import Method, method_registry
from benchmark.testing._component_checks import (
    check_adjust,
    check_augmentation,
    check_batch_sampler,
    check_classifier,
    check_loss,
    check_stages,
)
from benchmark.testing._context import CheckOptions, MethodCheckError, applicable_cases, main_engine
from benchmark.testing._method_checks import (
    check_applicability,
    check_card,
    check_family_hooks,
    check_parameters_reach,
    check_runs_on_every_tiny_split,
    recipe_hooks,
)
from benchmark.testing._probe import random_draws
from benchmark.testing._resampling_checks import RESAMPLING_FAMILIES, check_resampling
from benchmark.testing._splits import (
    ALL_TINY_SPLITS,
    TINY_SPLITS,
    make_binary_image_split,
    make_image_split,
    make_nominal_split,
    make_tabular_split,
    make_text_split,
    tiny_config,
    tiny_splits,
)
from benchmark.training.base import TrainingConfig

# The parameters at which each built-in loss is cross-entropy when the classes are balanced (the
# neutral-parameter check); a loss not named here is expected to be cross-entropy at balanced
# counts with its default draw (class weights, logit adjustment by the prior, DRW).
NEUTRAL_PARAMS: dict[str, dict[str, Any]] = {
    "focal-loss": {"gamma": 0.0, "alpha": 0.5},
    "class-balanced-loss": {"gamma": 0.0},
    "ldam": {"max_margin": 1e-12, "scale": 1.0},
    "ldam-drw": {"max_margin": 1e-12, "scale": 1.0},
    "ghm-c": {"bins": 1},
    "bce-pos-weight": {"pos_weight": 1.0},
    "alpha-balanced-ce": {"alpha": 0.5},
}

# Tuned parameters of built-in methods whose effect no tiny split can show, with the reason.
INERT_PARAMS: dict[str, dict[str, str]] = {
    "all-knn": {"allow_minority": "it matters only once cleaning leaves a majority class smaller than the "
                                  "minority, which no tiny split's cleaning does"},
    "neighbourhood-cleaning-rule": {"threshold_cleaning": "it decides which classes besides the minority are "
                                                          "cleaned, and no tiny split has a row of a middle class "
                                                          "to clean"},
}

# Which hook-specific checks a method gets: those of the hooks its recipe sets, and those its family needs.
_HOOK_CHECKS: tuple[tuple[Callable, str, tuple[str, ...]], ...] = (
    (check_resampling, "resample", RESAMPLING_FAMILIES),
    (check_loss, "loss", ("loss",)),
    (check_batch_sampler, "batch_sampler", ("batch-sampling",)),
    (check_augmentation, "augment", ("augmentation", "mixing")),
    (check_stages, "stages", ("two-stage", "embedding-oversampling", "decoupling")),
    (check_adjust, "adjust", ("post-hoc",)),
    (check_classifier, "classifier", ("ensemble",)),
)


def default_params(name_or_method: str | Method, split, engine: str = "deep", epochs: int = 2) -> dict[str, Any]:
    """The first configuration a study would try on ``split`` (Optuna's random sampler, seed 0)."""
    from benchmark.methods.base import MethodContext

    method = _resolve(name_or_method)
    return random_draws(method, MethodContext.from_split(split, engine, epochs=epochs), n=1)[0]


def _resolve(name_or_method: str | Method) -> Method:
    return name_or_method if isinstance(name_or_method, Method) else method_registry.get(name_or_method)


def _hooks(method: Method, options: CheckOptions) -> set[str] | None:
    """The hooks of the method's default recipe on each engine and split (None: cannot be told here)."""
    try:
        hooks: set[str] = set()
        for case in applicable_cases(method, options):
            hooks |= recipe_hooks(method.build(random_draws(method, case.context(), n=1)[0], case.context()))
        return hooks
    except Exception:  # noqa: BLE001 - a resource missing here, or a broken build: the checks themselves report it
        return None


def method_checks(name_or_method: str | Method, *, neutral_params: dict[str, Any] | None = None,
                  inert_params: dict[str, str] | None = None,
                  config: TrainingConfig | None = None) -> list[Callable[[Method], None]]:
    """The checks that apply to a method, each a callable ``check(method)`` (named after the check).

    ``neutral_params``: where the method's loss equals cross-entropy at balanced counts (see
    :data:`NEUTRAL_PARAMS`, used for built-in methods when not given); ``inert_params``: tuned
    parameters whose effect no tiny split can show, with the reason (see :data:`INERT_PARAMS`);
    ``config``: the training settings of the engine runs (default :func:`tiny_config`).
    """
    method = _resolve(name_or_method)
    neutral = NEUTRAL_PARAMS.get(method.name, {}) if neutral_params is None else dict(neutral_params)
    inert = INERT_PARAMS.get(method.name, {}) if inert_params is None else dict(inert_params)
    options = CheckOptions(neutral_params=neutral, inert_params=inert, config=config or tiny_config())
    hooks = _hooks(method, options)
    chosen = [check_card, check_family_hooks, check_applicability, check_parameters_reach]
    for check, hook, families in _HOOK_CHECKS:
        if hooks is None or hook in hooks or method.family in families:
            chosen.append(check)
    chosen.append(check_runs_on_every_tiny_split)
    return [_bind(check, options) for check in chosen]


def _bind(check: Callable[[Method, CheckOptions], None], options: CheckOptions) -> Callable[[Method], None]:
    @functools.wraps(check)
    def bound(method: Method) -> None:
        check(method, options)

    return bound


def check_method(name_or_method: str | Method, *, neutral_params: dict[str, Any] | None = None,
                 inert_params: dict[str, str] | None = None, config: TrainingConfig | None = None) -> dict[str, str]:
    """Run every check that applies to a method (a registered name or a :class:`Method`).

    Returns ``{check name: "passed" | "skipped: why"}``; the first failing check raises
    :class:`MethodCheckError`. A check skipped for a missing model or corpus says which.
    """
    method = _resolve(name_or_method)
    results = {}
    for check in method_checks(method, neutral_params=neutral_params, inert_params=inert_params, config=config):
        try:
            check(method)
            results[check.__name__] = "passed"
        except ResourceUnavailableError as exc:
            results[check.__name__] = f"skipped: {exc}"
    return results


def parametrize_with_checks(methods: Iterable[str | Method], *,
                            neutral_params: dict[str, dict[str, Any]] | None = None,
                            inert_params: dict[str, dict[str, str]] | None = None,
                            config: TrainingConfig | None = None):
    """A ``pytest.mark.parametrize`` over (method, check) for every check of every given method; the
    test calls ``check(method)``. ``neutral_params`` and ``inert_params`` map a method name to its
    neutral parameters and its inert ones (see :func:`method_checks`).
    Test ids read ``<method>-<check>``; a check missing a resource here is skipped with the reason."""
    import pytest

    params = []
    for item in methods:
        method = _resolve(item)
        neutral = (neutral_params or {}).get(method.name)
        inert = (inert_params or {}).get(method.name)
        for check in method_checks(method, neutral_params=neutral, inert_params=inert, config=config):
            params.append(pytest.param(method, _skipping(check), id=f"{method.name}-{check.__name__}"))
    return pytest.mark.parametrize(("method", "check"), params)


def _skipping(check: Callable[[Method], None]) -> Callable[[Method], None]:
    @functools.wraps(check)
    def run(method: Method) -> None:
        import pytest

        try:
            check(method)
        except ResourceUnavailableError as exc:
            pytest.skip(str(exc))

    return run


__all__ = [
    "ALL_TINY_SPLITS",
    "INERT_PARAMS",
    "NEUTRAL_PARAMS",
    "TINY_SPLITS",
    "CheckOptions",
    "MethodCheckError",
    "check_method",
    "default_params",
    "main_engine",
    "make_binary_image_split",
    "make_image_split",
    "make_nominal_split",
    "make_tabular_split",
    "make_text_split",
    "method_checks",
    "parametrize_with_checks",
    "tiny_config",
    "tiny_splits",
]
