"""The no-remedy baseline every other row is compared against."""

from __future__ import annotations

from benchmark.methods.base import ALL_MODALITIES, BOTH_ENGINES, MethodContext, Recipe, register_method


@register_method(
    "baseline",
    family="baseline",
    modalities=ALL_MODALITIES,
    engines=BOTH_ENGINES,
    summary="No remedy: plain cross-entropy (or the classical model as is) on the imbalanced training set.",
    paper="",
)
def baseline(params: dict, ctx: MethodContext) -> Recipe:
    """Empirical risk minimisation with no imbalance remedy."""
    return Recipe()
