"""Iterative pre-classification under-sampling: hard-negative mining (the ``resample`` hook).

Start from every minority row and a random part of the other classes; fit a fast pre-classifier on
that subset, predict the majority rows left out, add those it gets wrong (hardest first), and repeat
for a tuned number of rounds. The final model then trains on the mined subset. This is the
"bootstrapping" of Sung and Poggio's face detector, where the false positives of the current
detector join the negative set in each round.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import SUNG_POGGIO_BIB
from benchmark.methods.base import ALL_MODALITIES, BOTH_ENGINES, MethodContext, Recipe, register_method


class HardNegativeMiner:
    """The ``resample`` component.

    Args:
        minority_classes: classes kept whole (the split's minority classes).
        rounds: mining rounds after the initial fit.
        start_ratio: each other class starts with ``start_ratio`` times the largest minority class's
            count of random rows (all of it when smaller); each round adds at most as many again,
            the misclassified rows with the lowest predicted probability of their own class first.
    """

    space = "features"

    def __init__(self, minority_classes: tuple[int, ...], rounds: int, start_ratio: float):
        if rounds < 0 or start_ratio <= 0:
            raise BenchmarkError(f"hard-negative mining got rounds={rounds}, start_ratio={start_ratio}",
                                 "use rounds >= 0 and a positive start_ratio")
        self.minority_classes, self.rounds, self.start_ratio = tuple(minority_classes), rounds, start_ratio

    def resample(self, X: Any, y: np.ndarray, seed: int) -> tuple[Any, np.ndarray]:
        y = np.asarray(y)
        rng = np.random.default_rng(seed)
        features = pre_classifier_features(X)
        minority = np.isin(y, self.minority_classes)
        reference = max([int((y == c).sum()) for c in self.minority_classes] + [1])
        quota = max(1, int(round(self.start_ratio * reference)))
        selected = np.zeros(len(y), dtype=bool)
        selected[minority] = True
        for c in np.unique(y[~minority]):
            rows = np.flatnonzero(y == c)
            selected[rng.permutation(rows)[:quota]] = True
        self.history = [int(selected.sum())]
        for _ in range(self.rounds):
            left_out = np.flatnonzero(~selected)
            if left_out.size == 0 or np.unique(y[selected]).size < 2:
                break
            model = fit_pre_classifier(features[selected], y[selected], seed)
            proba = np.zeros((left_out.size, int(y.max()) + 1))
            proba[:, model.classes_] = model.predict_proba(features[left_out])
            own = proba[np.arange(left_out.size), y[left_out]]
            wrong = proba.argmax(axis=1) != y[left_out]
            if not wrong.any():
                break
            hardest = left_out[wrong][np.argsort(own[wrong], kind="stable")]
            for c in np.unique(y[hardest]):  # at most `quota` new rows per class and round
                selected[hardest[y[hardest] == c][:quota]] = True
            self.history.append(int(selected.sum()))
        keep = np.flatnonzero(selected)
        return X[keep], y[keep]


def pre_classifier_features(X: Any) -> Any:
    """Rows for the pre-classifier: images flattened and scaled to [0, 1]; sparse TF-IDF as it is."""
    if sp.issparse(X):
        return X.tocsr()
    X = np.asarray(X)
    if X.ndim > 2:
        return X.reshape(len(X), -1).astype(np.float32) / (255.0 if X.dtype == np.uint8 else 1.0)
    return X


def fit_pre_classifier(X: Any, y: np.ndarray, seed: int) -> Any:
    """Logistic regression: fast, probabilistic, and the same on every modality."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=300, random_state=seed).fit(X, y)


@register_method(
    "hard-negative-mining",
    family="under-sampling",
    modalities=ALL_MODALITIES,
    engines=BOTH_ENGINES,
    summary="Iterative pre-classification under-sampling: all minority rows and a random part of the rest, then "
            "rounds that add the rows a pre-classifier misclassifies.",
    paper=SUNG_POGGIO_BIB,
    search_space=lambda trial, ctx: {"rounds": trial.suggest_int("rounds", 1, 5),
                                     "start_ratio": trial.suggest_float("start_ratio", 0.5, 4.0, log=True)},
    differences="The pre-classifier is a logistic regression on the sampler's features (pixels for images, "
                "TF-IDF for text), not the final model; rounds are capped at start_ratio times the largest "
                "minority class per class, so the subset stays under-sampled.",
)
def hard_negative_mining(params: dict, ctx: MethodContext) -> Recipe:
    """Hard-negative mining (Sung and Poggio 1998) as an under-sampler of the training split."""
    return Recipe(resample=HardNegativeMiner(ctx.minority_classes, params.get("rounds", 2),
                                             params.get("start_ratio", 1.0)))
