"""Over-sampling rows of imbalanced-learn (the ``resample`` hook, training split only): random
over-sampling, SMOTE and its variants, ADASYN.

The adapter and the search-space helpers every sampler shares live in :mod:`benchmark.methods._imblearn`;
:mod:`.combined_sampling` holds SMOTE followed by cleaning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from benchmark.methods._imblearn import (
    ImblearnResampler,
    binary_ratio,
    needs_two_per_class,
    neighbours,
    smallest_class,
    smote_space,
)
from benchmark.methods._papers import (
    ADASYN_BIB,
    BORDERLINE_BIB,
    IMBLEARN_BIB,
    KMEANS_SMOTE_BIB,
    SMOTE_BIB,
    SVMSMOTE_BIB,
)
from benchmark.methods.base import ALL_MODALITIES, BOTH_ENGINES, MethodContext, Recipe, register_method

if TYPE_CHECKING:
    from benchmark.datasets.base import Split


def nominal_columns(kinds: tuple[str, ...] | list[str] | None) -> list[int]:
    return [j for j, k in enumerate(kinds or ()) if k == "nominal"]


def mixed_features(split: Split) -> str | None:
    """SMOTENC needs nominal and numeric features together."""
    nominal = nominal_columns(split.feature_kinds)
    total = len(split.feature_kinds or ())
    if not nominal or len(nominal) == total:
        what = "no nominal" if not nominal else "only nominal"
        return f"SMOTENC needs nominal and numeric features; {split.dataset} has {what} features (use SMOTE or SMOTEN)"
    return needs_two_per_class(split)


def all_nominal(split: Split) -> str | None:
    """SMOTEN needs every feature nominal."""
    nominal = nominal_columns(split.feature_kinds)
    total = len(split.feature_kinds or ())
    if not total or len(nominal) != total:
        return (f"SMOTEN needs all features nominal; {split.dataset} has {total - len(nominal)} numeric "
                f"feature(s) (use SMOTENC or SMOTE)")
    return needs_two_per_class(split)


def oversampler(name: str, summary: str, paper: str, search_space, *, modalities=ALL_MODALITIES,
                applies_to=needs_two_per_class, differences: str = "", family: str = "over-sampling"):
    """Registers an over-sampling (or combined-sampling) row that runs on both engines."""
    return register_method(name, family=family, modalities=modalities, engines=BOTH_ENGINES, summary=summary,
                           paper=paper, search_space=search_space, applies_to=applies_to, differences=differences)


# -- over-sampling --------------------------------------------------------------------------------------
@register_method(
    "random-oversampling",
    family="over-sampling",
    modalities=ALL_MODALITIES,
    engines=BOTH_ENGINES,
    summary="Duplicate randomly chosen minority rows until the classes reach the tuned balance.",
    paper=IMBLEARN_BIB,
    search_space=lambda trial, ctx: {"sampling_strategy": binary_ratio(trial, ctx)},
)
def random_oversampling(params: dict, ctx: MethodContext) -> Recipe:
    """imbalanced-learn's RandomOverSampler (sampling with replacement from each smaller class)."""
    from imblearn.over_sampling import RandomOverSampler

    strategy = params.get("sampling_strategy", "auto")
    return Recipe(resample=ImblearnResampler("RandomOverSampler", lambda seed, knn: RandomOverSampler(
        sampling_strategy=strategy, random_state=seed)))


@oversampler("smote", "Synthesise minority rows on segments between a minority row and one of its k minority "
             "neighbours.", SMOTE_BIB, smote_space)
def smote(params: dict, ctx: MethodContext) -> Recipe:
    """SMOTE (Chawla et al. 2002) through imbalanced-learn."""
    from imblearn.over_sampling import SMOTE

    strategy, k = params.get("sampling_strategy", "auto"), params.get("k_neighbors", 5)
    return Recipe(resample=ImblearnResampler("SMOTE", lambda seed, knn: SMOTE(
        sampling_strategy=strategy, k_neighbors=knn(k), random_state=seed)))


@oversampler("smote-nc", "SMOTE for mixed data: numeric features interpolated, nominal features take the most "
             "frequent value among the k neighbours.", SMOTE_BIB, smote_space, modalities=("tabular",),
             applies_to=mixed_features)
def smote_nc(params: dict, ctx: MethodContext) -> Recipe:
    """SMOTE-NC (Chawla et al. 2002, section 6.1) through imbalanced-learn's SMOTENC; the nominal
    columns are the split's features of kind "nominal" (kept as integer codes by the featuriser)."""
    from imblearn.over_sampling import SMOTENC

    strategy, k = params.get("sampling_strategy", "auto"), params.get("k_neighbors", 5)
    nominal = nominal_columns(ctx.feature_kinds)
    return Recipe(resample=ImblearnResampler("SMOTENC", lambda seed, knn: SMOTENC(
        categorical_features=nominal, sampling_strategy=strategy, k_neighbors=k, random_state=seed)))


@oversampler("smote-n", "SMOTE for nominal data: neighbours by the value difference metric, new rows take the "
             "most frequent value among the k neighbours.", SMOTE_BIB, smote_space, modalities=("tabular",),
             applies_to=all_nominal)
def smote_n(params: dict, ctx: MethodContext) -> Recipe:
    """SMOTE-N (Chawla et al. 2002, section 6.2) through imbalanced-learn's SMOTEN."""
    from imblearn.over_sampling import SMOTEN

    strategy, k = params.get("sampling_strategy", "auto"), params.get("k_neighbors", 5)
    return Recipe(resample=ImblearnResampler("SMOTEN", lambda seed, knn: SMOTEN(
        sampling_strategy=strategy, k_neighbors=k, random_state=seed)))


class ClasswiseADASYN:
    """ADASYN one class at a time (same counts and draws as imbalanced-learn's ADASYN per class).

    ADASYN spreads a class's new rows in proportion to the share of other classes among each row's
    neighbours. When no row of a class has such a neighbour (a well-separated class) that share is
    0/0 and imbalanced-learn stops; this class then gets plain SMOTE (uniform spread), which is the
    limit of ADASYN's weights as every row becomes equally easy. ``uniform_classes`` records which.
    When a small target rounds to zero new rows for every row, the class gets none (imbalanced-learn
    stops there too).
    """

    def __init__(self, sampling_strategy: Any, n_neighbors: Any, k: int, random_state: int):
        self.sampling_strategy, self.n_neighbors, self.k = sampling_strategy, n_neighbors, k
        self.random_state = random_state

    def fit_resample(self, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        from imblearn.over_sampling import ADASYN, SMOTE
        from imblearn.utils import check_sampling_strategy

        counts = np.bincount(y)
        new_X, new_y, self.uniform_classes = [X], [y], []
        for c, n_new in check_sampling_strategy(self.sampling_strategy, y, "over-sampling").items():
            if n_new <= 0:
                continue
            goal = {c: int(counts[c] + n_new)}
            try:
                X_res, y_res = ADASYN(sampling_strategy=goal, n_neighbors=self.n_neighbors,
                                      random_state=self.random_state).fit_resample(X, y)
            except (RuntimeError, ValueError) as exc:
                if "No samples will be generated" in str(exc):
                    continue  # every row's rounded share is 0 (a small target): ADASYN adds no row
                if "belong to the majority class" not in str(exc):
                    raise
                self.uniform_classes.append(int(c))
                X_res, y_res = SMOTE(sampling_strategy=goal, k_neighbors=self.n_neighbors,
                                     random_state=self.random_state).fit_resample(X, y)
            new_X.append(X_res[len(y):])
            new_y.append(y_res[len(y):])
        stacked = sp.vstack(new_X, format="csr") if sp.issparse(X) else np.concatenate(new_X)
        return stacked, np.concatenate(new_y)


@oversampler("adasyn", "Synthesise more minority rows where a minority row's neighbourhood holds more majority "
             "rows (adaptive SMOTE).", ADASYN_BIB,
             lambda trial, ctx: {"sampling_strategy": binary_ratio(trial, ctx),
                                 "n_neighbors": neighbours(trial, ctx, "n_neighbors")},
             differences="A class none of whose rows has a neighbour of another class (ADASYN's weights are 0/0 "
                         "there, and imbalanced-learn stops) is over-sampled with uniform weights, i.e. plain SMOTE.")
def adasyn(params: dict, ctx: MethodContext) -> Recipe:
    """ADASYN (He et al. 2008) through imbalanced-learn, class by class."""
    strategy, k = params.get("sampling_strategy", "auto"), params.get("n_neighbors", 5)
    return Recipe(resample=ImblearnResampler("ADASYN", lambda seed, knn: ClasswiseADASYN(
        strategy, knn(k), k, random_state=seed)))


def borderline_space(trial, ctx: MethodContext) -> dict:
    return {**smote_space(trial, ctx), "m_neighbors": trial.suggest_int("m_neighbors", 2, 15)}


def _borderline(kind: str, params: dict) -> Recipe:
    from imblearn.over_sampling import BorderlineSMOTE

    strategy, k, m = params.get("sampling_strategy", "auto"), params.get("k_neighbors", 5), params.get("m_neighbors", 10)
    # imbalanced-learn 0.14's borderline-2 step multiplies a sparse matrix by an array with `*` (a matrix
    # product for scipy's sparse matrices) and fails on TF-IDF rows: it gets dense rows.
    return Recipe(resample=ImblearnResampler(f"BorderlineSMOTE ({kind})", lambda seed, knn: BorderlineSMOTE(
        sampling_strategy=strategy, k_neighbors=knn(k), m_neighbors=knn(m), kind=kind, random_state=seed),
        dense=kind == "borderline-2"))


@oversampler("borderline-smote-1", "SMOTE only from minority rows in danger (most of their m neighbours are "
             "majority), interpolating towards minority neighbours.", BORDERLINE_BIB, borderline_space)
def borderline_smote_1(params: dict, ctx: MethodContext) -> Recipe:
    """Borderline-SMOTE1 (Han et al. 2005) through imbalanced-learn."""
    return _borderline("borderline-1", params)


@oversampler("borderline-smote-2", "Borderline-SMOTE that also interpolates towards majority neighbours "
             "(a step of at most half the way).", BORDERLINE_BIB, borderline_space)
def borderline_smote_2(params: dict, ctx: MethodContext) -> Recipe:
    """Borderline-SMOTE2 (Han et al. 2005) through imbalanced-learn."""
    return _borderline("borderline-2", params)


@oversampler("svm-smote", "SMOTE from the minority support vectors of an SVM, extrapolating where the majority "
             "is sparse.", SVMSMOTE_BIB,
             lambda trial, ctx: {**borderline_space(trial, ctx), "out_step": trial.suggest_float("out_step", 0.1, 1.0)})
def svm_smote(params: dict, ctx: MethodContext) -> Recipe:
    """SVM-SMOTE (Nguyen et al. 2011) through imbalanced-learn (an RBF SVC finds the support vectors)."""
    from imblearn.over_sampling import SVMSMOTE

    strategy, k, m = params.get("sampling_strategy", "auto"), params.get("k_neighbors", 5), params.get("m_neighbors", 10)
    step = params.get("out_step", 0.5)
    return Recipe(resample=ImblearnResampler("SVMSMOTE", lambda seed, knn: SVMSMOTE(
        sampling_strategy=strategy, k_neighbors=knn(k), m_neighbors=knn(m), out_step=step, random_state=seed)))


def kmeans_smote_space(trial, ctx: MethodContext) -> dict:
    """Clusters are bounded so that a cluster can on average hold k + 1 rows of the smallest class. The
    balance threshold (the share of a class a cluster needs to be over-sampled) ranges from half to
    all of the smallest class's overall share: at least one cluster always reaches the overall share
    (it is the clusters' weighted mean), so a trial fails only when that cluster is too small for k."""
    params = smote_space(trial, ctx)
    share = smallest_class(ctx) / sum(ctx.class_counts)
    high = max(1, min(20, smallest_class(ctx) // (params["k_neighbors"] + 1)))
    params["n_clusters"] = trial.suggest_int("n_clusters", 1, high)
    params["cluster_balance_threshold"] = trial.suggest_float("cluster_balance_threshold", share / 2, share)
    return params


@oversampler("kmeans-smote", "Cluster with k-means, then SMOTE inside the clusters where the minority is dense, "
             "more where it is sparse.", KMEANS_SMOTE_BIB, kmeans_smote_space)
def kmeans_smote(params: dict, ctx: MethodContext) -> Recipe:
    """K-Means SMOTE (Douzas et al. 2018) through imbalanced-learn, with mini-batch k-means."""
    from imblearn.over_sampling import KMeansSMOTE
    from sklearn.cluster import MiniBatchKMeans

    strategy, k = params.get("sampling_strategy", "auto"), params.get("k_neighbors", 2)
    n_clusters, threshold = params.get("n_clusters", 1), params.get("cluster_balance_threshold", "auto")
    return Recipe(resample=ImblearnResampler("KMeansSMOTE", lambda seed, knn: KMeansSMOTE(
        sampling_strategy=strategy, k_neighbors=knn(k), random_state=seed, cluster_balance_threshold=threshold,
        kmeans_estimator=MiniBatchKMeans(n_clusters=n_clusters, n_init=3, random_state=seed))))
