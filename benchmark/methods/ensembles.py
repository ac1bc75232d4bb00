"""imbalanced-learn's ensembles (the ``classifier`` hook): each replaces the classical engine's model.

Every member of these ensembles trains on its own re-balanced sample of the training rows (random
under-sampling inside the bootstrap, the bag or the boosting round), so they are remedies in their
own right rather than samplers placed in front of a model. They run on the classical engine only, on
tabular rows and on text features (sparse TF-IDF); a suite that trains those modalities with the
deep engine still runs them on the classical one (``Suite.engine_for``).
"""

from __future__ import annotations

from typing import Any

from benchmark.methods._imblearn import binary_ratio
from benchmark.methods._papers import BALANCED_BAGGING_BIB, BRF_BIB, EASY_ENSEMBLE_BIB, RUSBOOST_BIB
from benchmark.methods.base import MethodContext, Recipe, register_method

ENSEMBLE_MODALITIES = ("tabular", "text")  # the classical engine's data: tabular rows and text features


def ensemble(name: str, summary: str, paper: str, search_space, differences: str = ""):
    return register_method(name, family="ensemble", modalities=ENSEMBLE_MODALITIES, engines=("classical",),
                           summary=summary, paper=paper, search_space=search_space, differences=differences)


def brf_space(trial, ctx: MethodContext) -> dict[str, Any]:
    return {"n_estimators": trial.suggest_int("n_estimators", 50, 400, log=True),
            "max_features": trial.suggest_categorical("max_features", ["sqrt", "log2"]),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 5)}


@ensemble("balanced-random-forest", "A random forest whose every tree grows on a balanced bootstrap: the same "
          "number of rows drawn with replacement from every class.", BRF_BIB, brf_space)
def balanced_random_forest(params: dict, ctx: MethodContext) -> Recipe:
    """Balanced random forest (Chen, Liaw and Breiman 2004) through imbalanced-learn: each tree draws as
    many rows as the smallest class has from every class, with replacement (sampling_strategy="all",
    replacement=True, no second bootstrap), as the paper describes."""
    from imblearn.ensemble import BalancedRandomForestClassifier

    def classifier(seed: int) -> Any:
        return BalancedRandomForestClassifier(
            n_estimators=params.get("n_estimators", 100), max_features=params.get("max_features", "sqrt"),
            min_samples_leaf=params.get("min_samples_leaf", 1), sampling_strategy="all", replacement=True, bootstrap=False, random_state=seed, n_jobs=1)

    return Recipe(classifier=classifier)


@ensemble("balanced-bagging", "Bagging of decision trees, each on a bag randomly under-sampled to full balance.",
          BALANCED_BAGGING_BIB,
          lambda trial, ctx: {"n_estimators": trial.suggest_int("n_estimators", 10, 100, log=True),
                              "max_samples": trial.suggest_float("max_samples", 0.5, 1.0)},
          differences="imbalanced-learn's scheme: each bag is a bootstrap of max_samples of all training rows, "
                      "then randomly under-sampled to full balance (the paper bootstraps the minority class and "
                      "draws as many majority rows). The balance is not tuned: a tuned ratio can fall below a "
                      "bootstrap's own minority share, which imbalanced-learn rejects.")
def balanced_bagging(params: dict, ctx: MethodContext) -> Recipe:
    """Balanced bagging (Wallace et al. 2011) through imbalanced-learn's BalancedBaggingClassifier: every
    bag is under-sampled to full balance, as the paper does (a tuned ratio can fall below a bootstrap's
    own minority share, which imbalanced-learn rejects)."""
    from imblearn.ensemble import BalancedBaggingClassifier

    def classifier(seed: int) -> Any:
        return BalancedBaggingClassifier(
            n_estimators=params.get("n_estimators", 10), max_samples=params.get("max_samples", 1.0),
            sampling_strategy="auto", random_state=seed, n_jobs=1)

    return Recipe(classifier=classifier)


@ensemble("easy-ensemble", "AdaBoost learners, each trained on the minority and an independent random subset of "
          "the majority; their votes are averaged.", EASY_ENSEMBLE_BIB,
          lambda trial, ctx: {"n_estimators": trial.suggest_int("n_estimators", 4, 40, log=True)},
          differences="Each AdaBoost learner has imbalanced-learn's default of 10 decision stumps.")
def easy_ensemble(params: dict, ctx: MethodContext) -> Recipe:
    """EasyEnsemble (Liu, Wu and Zhou 2009) through imbalanced-learn's EasyEnsembleClassifier; each subset
    holds the minority and as many random majority rows, as in the paper."""
    from imblearn.ensemble import EasyEnsembleClassifier

    def classifier(seed: int) -> Any:
        return EasyEnsembleClassifier(n_estimators=params.get("n_estimators", 10), sampling_strategy="auto",
                                      random_state=seed, n_jobs=1)

    return Recipe(classifier=classifier)


@ensemble("rusboost", "AdaBoost in which every boosting round trains on a random under-sample of the weighted "
          "training rows.", RUSBOOST_BIB,
          lambda trial, ctx: {"n_estimators": trial.suggest_int("n_estimators", 10, 200, log=True),
                              "learning_rate": trial.suggest_float("learning_rate", 0.01, 2.0, log=True),
                              "max_depth": trial.suggest_int("max_depth", 1, 4),
                              "sampling_strategy": binary_ratio(trial, ctx)})
def rusboost(params: dict, ctx: MethodContext) -> Recipe:
    """RUSBoost (Seiffert et al. 2010) through imbalanced-learn, boosting decision trees of tuned depth."""
    from imblearn.ensemble import RUSBoostClassifier
    from sklearn.tree import DecisionTreeClassifier

    def classifier(seed: int) -> Any:
        return RUSBoostClassifier(
            estimator=DecisionTreeClassifier(max_depth=params.get("max_depth", 1), random_state=seed),
            n_estimators=params.get("n_estimators", 50), learning_rate=params.get("learning_rate", 1.0),
            sampling_strategy=params.get("sampling_strategy", "auto"), random_state=seed)

    return Recipe(classifier=classifier)
