"""Cleaning under-samplers of imbalanced-learn (the ``resample`` hook, training split only).

Tomek links, the edited-nearest-neighbour family (ENN, repeated ENN, AllKNN), the condensed nearest
neighbour rule, one-sided selection and the neighbourhood cleaning rule remove the rows their rule
flags (noisy or borderline rows, or redundant ones far from the border) from every class but the
smallest. They have no balance to tune: how many rows go depends on the data.
"""

from __future__ import annotations

from benchmark.methods._imblearn import ImblearnResampler, smallest_class
from benchmark.methods._papers import CNN_BIB, ENN_BIB, NCL_BIB, OSS_BIB, RENN_BIB, TOMEK_BIB
from benchmark.methods.base import MethodContext, Recipe
from benchmark.methods.resampling.under_sampling import undersampler


def cleaning_space(trial, ctx: MethodContext, high: int = 7) -> dict:
    return {"n_neighbors": trial.suggest_int("n_neighbors", 1, high),
            "kind_sel": trial.suggest_categorical("kind_sel", ["all", "mode"])}


@undersampler("tomek-links", "Remove the majority row of every Tomek link (a pair of mutual nearest neighbours "
              "of different classes).", TOMEK_BIB, lambda trial, ctx: {}, family="cleaning")
def tomek_links(params: dict, ctx: MethodContext) -> Recipe:
    """Tomek links (Tomek 1976) through imbalanced-learn."""
    from imblearn.under_sampling import TomekLinks

    return Recipe(resample=ImblearnResampler("TomekLinks", lambda seed, knn: TomekLinks()))


@undersampler("edited-nearest-neighbours", "Remove non-minority rows whose k nearest neighbours disagree with "
              "their class (all of them, or most).", ENN_BIB, cleaning_space, family="cleaning")
def edited_nearest_neighbours(params: dict, ctx: MethodContext) -> Recipe:
    """Wilson's edited nearest neighbours (Wilson 1972) through imbalanced-learn."""
    from imblearn.under_sampling import EditedNearestNeighbours

    k, kind = params.get("n_neighbors", 3), params.get("kind_sel", "all")
    return Recipe(resample=ImblearnResampler("EditedNearestNeighbours", lambda seed, knn: EditedNearestNeighbours(
        n_neighbors=knn(k), kind_sel=kind)))


@undersampler("repeated-edited-nearest-neighbours", "Apply edited nearest neighbours again and again until no "
              "row is removed (or the tuned number of rounds).", RENN_BIB,
              lambda trial, ctx: {**cleaning_space(trial, ctx), "max_iter": trial.suggest_int("max_iter", 2, 50, log=True)},
              family="cleaning")
def repeated_edited_nearest_neighbours(params: dict, ctx: MethodContext) -> Recipe:
    """Repeated ENN (Tomek 1976) through imbalanced-learn."""
    from imblearn.under_sampling import RepeatedEditedNearestNeighbours

    k, kind, rounds = params.get("n_neighbors", 3), params.get("kind_sel", "all"), params.get("max_iter", 100)
    return Recipe(resample=ImblearnResampler("RepeatedEditedNearestNeighbours", lambda seed, knn:
                                             RepeatedEditedNearestNeighbours(n_neighbors=knn(k), kind_sel=kind,
                                                                             max_iter=rounds)))


@undersampler("all-knn", "Edited nearest neighbours with 1, 2, ..., k neighbours in turn.", RENN_BIB,
              lambda trial, ctx: {**cleaning_space(trial, ctx, high=5),
                                  "allow_minority": trial.suggest_categorical("allow_minority", [False, True])},
              family="cleaning",
              inert_params={"allow_minority": "it matters only once cleaning leaves a majority class smaller than "
                                              "the minority, which no tiny split's cleaning does"})
def all_knn(params: dict, ctx: MethodContext) -> Recipe:
    """All-kNN (Tomek 1976) through imbalanced-learn."""
    from imblearn.under_sampling import AllKNN

    k, kind, allow = params.get("n_neighbors", 3), params.get("kind_sel", "all"), params.get("allow_minority", False)
    return Recipe(resample=ImblearnResampler("AllKNN", lambda seed, knn: AllKNN(
        n_neighbors=knn(k), kind_sel=kind, allow_minority=allow)))


@undersampler("condensed-nearest-neighbour", "Keep a subset of the majority that classifies the rest correctly "
              "with a 1-nearest-neighbour rule (Hart's CNN).", CNN_BIB,
              lambda trial, ctx: {"n_seeds_S": trial.suggest_int("n_seeds_S", 1, max(1, min(10, smallest_class(ctx))))},
              family="cleaning",
              differences="Sequential by definition: each majority row is tested against the current subset, so it "
                          "is slow on large data (no device search: the rule refits a k-NN classifier per addition).")
def condensed_nearest_neighbour(params: dict, ctx: MethodContext) -> Recipe:
    """Condensed nearest neighbour (Hart 1968) through imbalanced-learn."""
    from imblearn.under_sampling import CondensedNearestNeighbour

    seeds = params.get("n_seeds_S", 1)
    return Recipe(resample=ImblearnResampler("CondensedNearestNeighbour", lambda seed, knn: CondensedNearestNeighbour(
        n_seeds_S=seeds, random_state=seed)))


@undersampler("one-sided-selection", "A 1-NN condensed subset of the majority, then Tomek links removed from it.",
              OSS_BIB, lambda trial, ctx: {"n_seeds_S": trial.suggest_int(
                  "n_seeds_S", 1, max(1, min(10, smallest_class(ctx))))}, family="cleaning")
def one_sided_selection(params: dict, ctx: MethodContext) -> Recipe:
    """One-sided selection (Kubat and Matwin 1997) through imbalanced-learn."""
    from imblearn.under_sampling import OneSidedSelection

    seeds = params.get("n_seeds_S", 1)
    return Recipe(resample=ImblearnResampler("OneSidedSelection", lambda seed, knn: OneSidedSelection(
        n_seeds_S=seeds, random_state=seed)))


@undersampler("neighbourhood-cleaning-rule", "Edited nearest neighbours, plus the non-minority neighbours that "
              "misclassify minority rows.", NCL_BIB,
              lambda trial, ctx: {"n_neighbors": trial.suggest_int("n_neighbors", 2, 7),
                                  "threshold_cleaning": trial.suggest_float("threshold_cleaning", 0.01, 0.5)},
              family="cleaning",
              inert_params={"threshold_cleaning": "it decides which classes besides the minority are cleaned, and "
                                                  "no tiny split has a row of a middle class to clean"})
def neighbourhood_cleaning_rule(params: dict, ctx: MethodContext) -> Recipe:
    """Neighbourhood cleaning rule (Laurikkala 2001) through imbalanced-learn (its neighbour estimator must
    also classify, so it keeps scikit-learn's search)."""
    from imblearn.under_sampling import NeighbourhoodCleaningRule

    k, threshold = params.get("n_neighbors", 3), params.get("threshold_cleaning", 0.5)
    return Recipe(resample=ImblearnResampler("NeighbourhoodCleaningRule", lambda seed, knn: NeighbourhoodCleaningRule(
        n_neighbors=k, threshold_cleaning=threshold)))
