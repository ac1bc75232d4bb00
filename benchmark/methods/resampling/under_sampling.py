"""Under-sampling rows of imbalanced-learn (the ``resample`` hook, training split only).

Random, NearMiss, instance-hardness and prototype-generation (cluster centroids) samplers remove
majority rows down to a tuned balance. The cleaning samplers, which remove what a neighbourhood rule
flags and have no balance to tune, are in :mod:`.cleaning`. The adapter and the shared
search-space helpers live in :mod:`benchmark.methods._imblearn`.
"""

from __future__ import annotations

from benchmark.methods._imblearn import ImblearnResampler, binary_ratio, needs_two_per_class, smallest_class
from benchmark.methods._papers import CLUSTER_CENTROIDS_BIB, IHT_BIB, IMBLEARN_BIB, NEARMISS_BIB
from benchmark.methods.base import ALL_MODALITIES, BOTH_ENGINES, MethodContext, Recipe, register_method


def undersampler(name: str, summary: str, paper: str, search_space, *, applies_to=None, differences: str = "",
                 family: str = "under-sampling", inert_params: dict[str, str] | None = None):
    """Registers an under-sampling row that runs on both engines and every modality."""
    return register_method(name, family=family, modalities=ALL_MODALITIES, engines=BOTH_ENGINES, summary=summary,
                           paper=paper, search_space=search_space, applies_to=applies_to, differences=differences,
                           inert_params=inert_params or {})


@undersampler("random-undersampling", "Drop randomly chosen majority rows until the classes reach the tuned "
              "balance.", IMBLEARN_BIB, lambda trial, ctx: {"sampling_strategy": binary_ratio(trial, ctx)})
def random_undersampling(params: dict, ctx: MethodContext) -> Recipe:
    """imbalanced-learn's RandomUnderSampler (without replacement)."""
    from imblearn.under_sampling import RandomUnderSampler

    strategy = params.get("sampling_strategy", "auto")
    return Recipe(resample=ImblearnResampler("RandomUnderSampler", lambda seed, knn: RandomUnderSampler(
        sampling_strategy=strategy, random_state=seed)))


def nearmiss_space(trial, ctx: MethodContext) -> dict:
    """Neighbour counts bounded by the smallest class (NearMiss searches inside the minority class)."""
    high = max(1, min(10, smallest_class(ctx)))
    return {"sampling_strategy": binary_ratio(trial, ctx), "n_neighbors": trial.suggest_int("n_neighbors", 1, high)}


def _nearmiss(version: int, params: dict) -> Recipe:
    from imblearn.under_sampling import NearMiss

    strategy, k = params.get("sampling_strategy", "auto"), params.get("n_neighbors", 3)
    k3 = params.get("n_neighbors_ver3", 3)
    return Recipe(resample=ImblearnResampler(f"NearMiss-{version}", lambda seed, knn: NearMiss(
        sampling_strategy=strategy, version=version, n_neighbors=knn(k, 0), n_neighbors_ver3=knn(k3, 0))))


@undersampler("nearmiss-1", "Keep the majority rows whose mean distance to their k nearest minority rows is "
              "smallest.", NEARMISS_BIB, nearmiss_space, applies_to=needs_two_per_class)
def nearmiss_1(params: dict, ctx: MethodContext) -> Recipe:
    """NearMiss-1 (Mani and Zhang 2003) through imbalanced-learn."""
    return _nearmiss(1, params)


@undersampler("nearmiss-2", "Keep the majority rows whose mean distance to the farthest minority rows is "
              "smallest.", NEARMISS_BIB, nearmiss_space, applies_to=needs_two_per_class)
def nearmiss_2(params: dict, ctx: MethodContext) -> Recipe:
    """NearMiss-2 (Mani and Zhang 2003) through imbalanced-learn."""
    return _nearmiss(2, params)


@undersampler("nearmiss-3", "Keep, for every minority row, its nearest majority rows, then those farthest on "
              "average from the minority.", NEARMISS_BIB,
              lambda trial, ctx: {**nearmiss_space(trial, ctx), "n_neighbors_ver3": trial.suggest_int(
                  "n_neighbors_ver3", 1, max(1, min(10, smallest_class(ctx))))},
              applies_to=needs_two_per_class)
def nearmiss_3(params: dict, ctx: MethodContext) -> Recipe:
    """NearMiss-3 (Mani and Zhang 2003) through imbalanced-learn."""
    return _nearmiss(3, params)


def iht_space(trial, ctx: MethodContext) -> dict:
    """Cross-validation folds bounded by the smallest class (each fold needs a row of every class)."""
    return {"sampling_strategy": binary_ratio(trial, ctx),
            "cv": trial.suggest_int("cv", 2, max(2, min(5, smallest_class(ctx))))}


@undersampler("instance-hardness-threshold", "Remove the majority rows a cross-validated classifier finds "
              "hardest (lowest probability of their own class).", IHT_BIB, iht_space, applies_to=needs_two_per_class,
              differences="The hardness classifier is a random forest of 100 trees (imbalanced-learn's default).")
def instance_hardness_threshold(params: dict, ctx: MethodContext) -> Recipe:
    """Instance hardness threshold (Smith et al. 2014) through imbalanced-learn."""
    from imblearn.under_sampling import InstanceHardnessThreshold
    from sklearn.ensemble import RandomForestClassifier

    strategy, cv = params.get("sampling_strategy", "auto"), params.get("cv", 5)
    return Recipe(resample=ImblearnResampler("InstanceHardnessThreshold", lambda seed, knn: InstanceHardnessThreshold(
        estimator=RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1), sampling_strategy=strategy,
        cv=cv, random_state=seed)))


@undersampler("cluster-centroids", "Replace each majority class by the centroids of k-means clusters (or the "
              "rows nearest to them).", CLUSTER_CENTROIDS_BIB,
              lambda trial, ctx: {"sampling_strategy": binary_ratio(trial, ctx),
                                  "voting": trial.suggest_categorical("voting", ["soft", "hard"])},
              family="under-sampling",
              differences="Mini-batch k-means (3 initialisations) instead of k-means, so large data stays tractable.")
def cluster_centroids(params: dict, ctx: MethodContext) -> Recipe:
    """Cluster centroids (Yen and Lee 2009) through imbalanced-learn; "soft" voting keeps the centroids,
    "hard" the real rows nearest to them."""
    from imblearn.under_sampling import ClusterCentroids
    from sklearn.cluster import MiniBatchKMeans

    strategy, voting = params.get("sampling_strategy", "auto"), params.get("voting", "soft")
    return Recipe(resample=ImblearnResampler("ClusterCentroids", lambda seed, knn: ClusterCentroids(
        sampling_strategy=strategy, voting=voting, random_state=seed,
        estimator=MiniBatchKMeans(n_init=3, random_state=seed))))
