"""The method registry: one module per family of remedies.

Add a method by writing one module here (or an entry point in group ``benchmark.methods`` of your
own package)::

    @register_method(
        "my-loss", family="loss", modalities=("image", "text", "tabular"), engines=("deep",),
        summary="One line on what it does.", paper=BIBTEX,
        search_space=lambda trial, ctx: {"gamma": trial.suggest_float("gamma", 0.5, 5.0)},
    )
    def build(params: dict, ctx: MethodContext) -> Recipe:
        return Recipe(loss=MyLoss(params["gamma"], ctx.class_counts))

The conformance test (``tests/test_method_conformance.py``) then runs it on every modality it claims.
"""

from benchmark.methods.base import (
    Method,
    MethodContext,
    Recipe,
    Stage,
    method_registry,
    register_method,
)

__all__ = ["Method", "MethodContext", "Recipe", "Stage", "method_registry", "register_method"]
