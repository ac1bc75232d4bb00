"""Tiny splits and the conformance checks of methods, for this project's tests and plugin authors' own.

Tiny splits (built in memory, no data files): ``make_image_split``, ``make_text_split``,
``make_tabular_split`` (and the binary-image and nominal-only splits); ``TINY_SPLITS`` maps each
modality to its main builder, :func:`tiny_splits` gives every split of a modality, and
``tiny_config()`` is a two-epoch training setting small enough for two CPU cores.

Conformance checks, as imbalanced-learn's and scikit-learn's ``estimator_checks``, chosen from the
method's own declaration: every method gets its card, family-hook, applicability, parameter and
engine-run checks; its family's record (:data:`~benchmark.methods.FAMILY_TABLE`) names the checks of
the family's promise (resampling counts, a loss's properties, batch-sampler balance, augmentation
invariants, stage fractions, post-hoc direction, classifier determinism: :data:`HOOK_CHECKS`), and
``check_recipe_hooks`` runs the checks of the other hooks its recipe switches on. A loss declares
where it is cross-entropy, and a parameter no tiny split can show declares why, where the method is
registered (``register_method(..., neutral_params={"gamma": 0.0}, inert_params={...})``). Run them with
:func:`check_method` or, in a test suite, with :func:`parametrize_with_checks`::

    from benchmark.testing import parametrize_with_checks

    @parametrize_with_checks(["my-loss"])
    def test_my_method(method, check):
        check(method)

Collection builds nothing: each check builds the method's recipes when it runs. A failing check
raises :class:`MethodCheckError` naming the method, the check, the tiny split and what it saw. A
check that needs a model or corpus this machine lacks
(:class:`~benchmark.errors.ResourceUnavailableError`) is skipped under pytest with that message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from benchmark.errors import ResourceUnavailableError
from benchmark.methods.base import Method, method_registry
from benchmark.testing._context import CheckOptions, MethodCheckError, main_engine
from benchmark.testing._generative_checks import check_generated_samples as check_generated_samples  # noqa: E501
from benchmark.testing._probe import random_draws
from benchmark.testing._selection import HOOK_CHECKS, HookCheck, declared_checks
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


def default_params(name_or_method: str | Method, split, engine: str = "deep", epochs: int = 2) -> dict[str, Any]:
    """The first configuration a study would try on ``split`` (Optuna's random sampler, seed 0)."""
    from benchmark.methods.base import MethodContext

    method = _resolve(name_or_method)
    return random_draws(method, MethodContext.from_split(split, engine, epochs=epochs), n=1)[0]


def _resolve(name_or_method: str | Method) -> Method:
    return name_or_method if isinstance(name_or_method, Method) else method_registry.get(name_or_method)


def method_checks(name_or_method: str | Method, *, neutral_params: dict[str, Any] | None = None,
                  inert_params: dict[str, str] | None = None,
                  config: TrainingConfig | None = None) -> list[Callable[[Method], None]]:
    """The checks that apply to a method, each a callable ``check(method)`` (named after the check),
    chosen from its declaration (its family's record) without building anything.

    ``neutral_params`` and ``inert_params`` replace the ones the method declares at registration
    (:class:`~benchmark.methods.Method`: where its loss is cross-entropy at balanced counts; tuned
    parameters whose effect no tiny split can show, with the reason); ``config``: the training
    settings of the engine runs (default :func:`tiny_config`).
    """
    method = _resolve(name_or_method)
    options = CheckOptions(neutral_params=dict(method.neutral_params if neutral_params is None else neutral_params),
                           inert_params=dict(method.inert_params if inert_params is None else inert_params),
                           config=config or tiny_config())
    return [_bind(check, options) for check in declared_checks(method)]


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
    test calls ``check(method)``. The checks come from each method's declaration, so collection builds
    no recipe. ``neutral_params`` and ``inert_params`` map a method name to parameters that replace its
    declared ones (see :func:`method_checks`); most tests need neither.
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
    "HOOK_CHECKS",
    "TINY_SPLITS",
    "CheckOptions",
    "HookCheck",
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
