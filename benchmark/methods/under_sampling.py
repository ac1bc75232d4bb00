"""Under-sampling rows of imbalanced-learn (the ``resample`` hook, training split only).

Random and prototype-generation samplers reach a tuned balance; the cleaning samplers (Tomek links,
the edited-nearest-neighbour family, CNN, OSS, NCL) remove the rows their rule flags from every class
but the smallest and have no balance to tune. The adapter and the shared search-space helpers live
in :mod:`benchmark.methods.samplers`.
"""

from __future__ import annotations

from benchmark.methods.base import MethodContext, Recipe, register_method
from benchmark.methods.samplers import (
    ALL_MODALITIES,
    BOTH_ENGINES,
    IMBLEARN_BIB,
    ImblearnResampler,
    binary_ratio,
    needs_two_per_class,
    smallest_class,
)

NEARMISS_BIB = """@inproceedings{mani2003knn,
  title={{kNN} Approach to Unbalanced Data Distributions: A Case Study Involving Information Extraction},
  author={Mani, Inderjeet and Zhang, I.},
  booktitle={Proceedings of the ICML 2003 Workshop on Learning from Imbalanced Datasets}, year={2003}}"""

TOMEK_BIB = """@article{tomek1976two,
  title={Two Modifications of {CNN}},
  author={Tomek, Ivan},
  journal={IEEE Transactions on Systems, Man, and Cybernetics}, volume={SMC-6}, number={11}, pages={769--772},
  year={1976}}"""

ENN_BIB = """@article{wilson1972asymptotic,
  title={Asymptotic Properties of Nearest Neighbor Rules Using Edited Data},
  author={Wilson, Dennis L.},
  journal={IEEE Transactions on Systems, Man, and Cybernetics}, volume={SMC-2}, number={3}, pages={408--421},
  year={1972}}"""

RENN_BIB = """@article{tomek1976experiment,
  title={An Experiment with the Edited Nearest-Neighbor Rule},
  author={Tomek, Ivan},
  journal={IEEE Transactions on Systems, Man, and Cybernetics}, volume={SMC-6}, number={6}, pages={448--452},
  year={1976}}"""

CNN_BIB = """@article{hart1968condensed,
  title={The Condensed Nearest Neighbor Rule},
  author={Hart, Peter E.},
  journal={IEEE Transactions on Information Theory}, volume={14}, number={3}, pages={515--516}, year={1968}}"""

OSS_BIB = """@inproceedings{kubat1997addressing,
  title={Addressing the Curse of Imbalanced Training Sets: One-Sided Selection},
  author={Kubat, Miroslav and Matwin, Stan},
  booktitle={Proceedings of the 14th International Conference on Machine Learning (ICML)}, pages={179--186},
  year={1997}}"""

NCL_BIB = """@inproceedings{laurikkala2001improving,
  title={Improving Identification of Difficult Small Classes by Balancing Class Distribution},
  author={Laurikkala, Jorma},
  booktitle={Artificial Intelligence in Medicine (AIME)}, series={LNCS}, volume={2101}, pages={63--66}, year={2001}}"""

IHT_BIB = """@article{smith2014instance,
  title={An Instance Level Analysis of Data Complexity},
  author={Smith, Michael R. and Martinez, Tony and Giraud-Carrier, Christophe},
  journal={Machine Learning}, volume={95}, number={2}, pages={225--256}, year={2014}}"""

CLUSTER_CENTROIDS_BIB = """@article{yen2009cluster,
  title={Cluster-Based Under-Sampling Approaches for Imbalanced Data Distributions},
  author={Yen, Show-Jane and Lee, Yue-Shi},
  journal={Expert Systems with Applications}, volume={36}, number={3}, pages={5718--5727}, year={2009}}"""


def undersampler(name: str, summary: str, paper: str, search_space, *, applies_to=None, differences: str = "",
                 family: str = "under-sampling"):
    """Registers an under-sampling row that runs on both engines and every modality."""
    return register_method(name, family=family, modalities=ALL_MODALITIES, engines=BOTH_ENGINES, summary=summary,
                           paper=paper, search_space=search_space, applies_to=applies_to, differences=differences)


def cleaning_space(trial, ctx: MethodContext, high: int = 7) -> dict:
    return {"n_neighbors": trial.suggest_int("n_neighbors", 1, high),
            "kind_sel": trial.suggest_categorical("kind_sel", ["all", "mode"])}


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
              family="cleaning")
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
                                  "threshold_cleaning": trial.suggest_float("threshold_cleaning", 0.0, 0.5)},
              family="cleaning")
def neighbourhood_cleaning_rule(params: dict, ctx: MethodContext) -> Recipe:
    """Neighbourhood cleaning rule (Laurikkala 2001) through imbalanced-learn (its neighbour estimator must
    also classify, so it keeps scikit-learn's search)."""
    from imblearn.under_sampling import NeighbourhoodCleaningRule

    k, threshold = params.get("n_neighbors", 3), params.get("threshold_cleaning", 0.5)
    return Recipe(resample=ImblearnResampler("NeighbourhoodCleaningRule", lambda seed, knn: NeighbourhoodCleaningRule(
        n_neighbors=k, threshold_cleaning=threshold)))


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
