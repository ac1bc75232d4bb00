"""Combined over- and under-sampling (the ``resample`` hook): SMOTE, then a cleaning rule removes
the rows of any class it flags. imbalanced-learn's ``imblearn.combine``.
"""

from __future__ import annotations

from benchmark.methods._imblearn import ImblearnResampler, smote_space
from benchmark.methods._papers import SMOTEENN_BIB, SMOTETOMEK_BIB
from benchmark.methods.base import MethodContext, Recipe
from benchmark.methods.resampling.over_sampling import oversampler


@oversampler("smote-enn", "SMOTE, then Wilson's edited nearest neighbours removes rows of any class that "
             "disagree with their neighbourhood.", SMOTEENN_BIB,
             lambda trial, ctx: {**smote_space(trial, ctx), "enn_neighbors": trial.suggest_int("enn_neighbors", 1, 7)},
             family="combined-sampling")
def smote_enn(params: dict, ctx: MethodContext) -> Recipe:
    """SMOTE + ENN (Batista et al. 2004) through imbalanced-learn's SMOTEENN."""
    from imblearn.combine import SMOTEENN
    from imblearn.over_sampling import SMOTE
    from imblearn.under_sampling import EditedNearestNeighbours

    strategy, k, m = params.get("sampling_strategy", "auto"), params.get("k_neighbors", 5), params.get("enn_neighbors", 3)
    return Recipe(resample=ImblearnResampler("SMOTEENN", lambda seed, knn: SMOTEENN(
        random_state=seed,
        smote=SMOTE(sampling_strategy=strategy, k_neighbors=knn(k), random_state=seed),
        enn=EditedNearestNeighbours(sampling_strategy="all", n_neighbors=knn(m)))))


@oversampler("smote-tomek", "SMOTE, then removes both rows of every Tomek link (mutual nearest neighbours of "
             "different classes).", SMOTETOMEK_BIB, smote_space, family="combined-sampling")
def smote_tomek(params: dict, ctx: MethodContext) -> Recipe:
    """SMOTE + Tomek links (Batista et al. 2003) through imbalanced-learn's SMOTETomek."""
    from imblearn.combine import SMOTETomek
    from imblearn.over_sampling import SMOTE
    from imblearn.under_sampling import TomekLinks

    strategy, k = params.get("sampling_strategy", "auto"), params.get("k_neighbors", 5)
    return Recipe(resample=ImblearnResampler("SMOTETomek", lambda seed, knn: SMOTETomek(
        random_state=seed,
        smote=SMOTE(sampling_strategy=strategy, k_neighbors=knn(k), random_state=seed),
        tomek=TomekLinks(sampling_strategy="all"))))
