"""The method registry: one folder per family of remedies, one module per group of rows.

    base.py                  the hook contract (Recipe, Stage, MethodContext), Method, the registry,
                             and the shared constants (ALL_MODALITIES, BOTH_ENGINES)
    _families.py             the method families (FAMILY_TABLE, FAMILIES): each family's hooks and checks
    baseline.py              the no-remedy row
    resampling/              the ``resample`` and ``batch_sampler`` hooks: over_sampling, under_sampling,
                             cleaning, combined_sampling, hard_negative_mining, batch_sampling
    losses/                  the ``loss`` hook: class_weighting, example_weighting (focal, GHM-C),
                             deferred_reweighting (DRW), margin (LDAM, balanced softmax, logit adjustment)
    augmentation/            image transforms, image_oversampling, mixing, embedding_mixing, text
    stages/                  the ``stages`` hook: two_stage, decoupling (cRT, tau, LWS), eos
    self_supervised/         the ``pretrain`` hook: rotation, contrastive (SimCLR), vime
    semi_supervised/         rows that learn from the unlabeled pool: pseudo_labelling (Stage.pseudo_label),
                             fixmatch (FixMatch with distribution alignment: augment + loss)
    post_hoc.py              the ``adjust`` hook: threshold moving, post-hoc logit adjustment
    ensembles.py             the ``classifier`` hook: imbalanced-learn's ensembles (classical engine)
    _papers.py               the BibTeX of every cited paper, each once

Modules whose names start with ``_`` are helpers that register nothing (``_imblearn``: the adapter
to imbalanced-learn samplers; ``_nearest_neighbours``: device neighbour search; the ``_*_ops``
modules of ``augmentation/``). Every other module registers rows, and the registry imports every
such module of this package and its subpackages on first lookup.

Add a method by writing one module in the folder of its family (or a module of your own package
with an entry point in group ``benchmark.methods``)::

    from benchmark.methods import ALL_MODALITIES, MethodContext, Recipe, register_method

    @register_method(
        "my-loss", family="loss", modalities=ALL_MODALITIES, engines=("deep",),
        summary="One line on what it does.", paper=BIBTEX,
        search_space=lambda trial, ctx: {"gamma": trial.suggest_float("gamma", 0.5, 5.0)},
    )
    def build(params: dict, ctx: MethodContext) -> Recipe:
        return Recipe(loss=MyLoss(params["gamma"], ctx.class_counts))

``family`` is one of :data:`FAMILIES` (an unknown one is refused at registration). The
conformance test (``tests/methods/test_method_conformance.py``) then runs it on every modality it
claims, with the checks its family's record (:data:`FAMILY_TABLE`) and its recipe's hooks call for; a
loss declares where it is cross-entropy (``neutral_params={"gamma": 0.0}``) and a parameter no tiny
split can show declares why (``inert_params={"name": "reason"}``), in the same ``register_method``.
"""

from benchmark.methods.base import (
    ALL_MODALITIES,
    BOTH_ENGINES,
    FAMILIES,
    FAMILY_TABLE,
    Family,
    Method,
    MethodContext,
    Recipe,
    Stage,
    method_registry,
    register_method,
)

__all__ = [
    "ALL_MODALITIES",
    "BOTH_ENGINES",
    "FAMILIES",
    "FAMILY_TABLE",
    "Family",
    "Method",
    "MethodContext",
    "Recipe",
    "Stage",
    "method_registry",
    "register_method",
]
