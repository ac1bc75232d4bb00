"""The classical engine: resample the training features, then fit a scikit-learn classifier.

Default models (``TrainingConfig.classical_model``): ``logreg`` (LogisticRegression), ``rf``
(RandomForestClassifier, 200 trees) and ``hgb`` (HistGradientBoostingClassifier); each takes the
recipe's ``class_weight`` (re-weighting methods) as scikit-learn's ``class_weight`` mapping. A
recipe's ``classifier`` hook (imbalanced-learn's ensembles) replaces the default model. Images are
flattened pixels in [0, 1]; texts TF-IDF (sparse) or MiniLM sentence embeddings.

This engine has no epochs and no optimiser steps to count: a scikit-learn ``fit`` runs each model's
own solver to its own stopping rule (LogisticRegression's iterations, a forest's trees), so the
deep engine's equal-compute rule (``benchmark.training.epochs``) does not apply. Its rows record
no ``epochs``, ``train_samples`` or ``train_steps`` (the report shows none), only ``training_rows``,
the rows fitted after ``resample``; ``on_epoch`` is called once, after the fit, for the trial loop.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmark.datasets.base import Split
from benchmark.errors import BenchmarkError
from benchmark.methods.base import CLASSICAL_HOOKS, Recipe, call_resample
from benchmark.training.base import (
    EpochCallback,
    TrainingConfig,
    fit_adjuster,
    resample_context,
    resolve_device,
    softmax,
)
from benchmark.training.features import make_featurizer


def default_classifier(name: str, seed: int, class_weight: dict[int, float] | None) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    if name == "logreg":
        return LogisticRegression(max_iter=2000, class_weight=class_weight, random_state=seed)
    if name == "rf":
        return RandomForestClassifier(n_estimators=200, class_weight=class_weight, random_state=seed, n_jobs=1)
    if name == "hgb":
        return HistGradientBoostingClassifier(class_weight=class_weight, random_state=seed)
    raise BenchmarkError(f"classical model {name!r} is unknown", "use 'logreg', 'rf' or 'hgb'")


class ClassicalModel:
    def __init__(self, estimator: Any, featurizer: Any, adjust: Any, num_classes: int, timings: dict[str, float]):
        self.estimator, self.featurizer, self.adjust = estimator, featurizer, adjust
        self.num_classes, self.timings = num_classes, timings

    def logits(self, X: np.ndarray) -> np.ndarray:
        """Log-probabilities over all classes (a class absent after resampling gets probability 0)."""
        proba = np.zeros((len(X), self.num_classes))
        proba[:, self.estimator.classes_] = self.estimator.predict_proba(self.featurizer.transform(X))
        return np.log(np.clip(proba, 1e-12, 1.0))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        logits = self.logits(X)
        if self.adjust is not None:
            logits = self.adjust.adjust(logits)
        return softmax(logits)


class ClassicalEngine:
    """Runs the resample, class_weight, classifier and adjust hooks."""

    name = "classical"
    hooks = CLASSICAL_HOOKS

    def fit(self, split: Split, recipe: Recipe, config: TrainingConfig, *, seed: int, device: str = "cpu",
            on_epoch: EpochCallback | None = None) -> ClassicalModel:
        recipe.check_engine(self.name, self.hooks)
        if split.modality == "text" and config.text_features == "tokens":
            raise BenchmarkError("the classical engine cannot learn from padded token ids (text_features='tokens')",
                                 "use text_features 'tfidf' or 'minilm' with the classical engine")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        X, y = split.train.X, split.train.y
        sampler = recipe.resample
        context = resample_context(split, recipe, config, resolve_device(device))
        if sampler is not None and getattr(sampler, "space", "features") == "input":
            X, y = call_resample(sampler, X, y, seed, context)
        featurizer = make_featurizer(split.modality, config, split.feature_kinds, dense=False).fit(X)
        if split.modality == "image":  # classical models see flattened pixels in [0, 1]
            featurizer = _Flatten(featurizer)
        features = featurizer.transform(X)
        if sampler is not None and getattr(sampler, "space", "features") == "features":
            features, y = call_resample(sampler, features, y, seed, context)
        timings["resample_seconds"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        if recipe.classifier is not None:
            estimator = recipe.classifier(seed)
        else:
            weights = None
            if recipe.class_weight is not None:
                weights = {c: float(w) for c, w in enumerate(np.asarray(recipe.class_weight))}
            estimator = default_classifier(config.classical_model, seed, weights)
        estimator.fit(features, y)
        timings["train_seconds"] = time.perf_counter() - t0
        timings["training_rows"] = int(np.asarray(y).shape[0])
        if context is not None:  # generator_seconds, sampling_seconds; artifacts for the seed rows
            timings.update(context.timings)
        model = ClassicalModel(estimator, featurizer, recipe.adjust, split.num_classes, timings)
        model.artifacts = context.artifacts if context is not None else {}
        val_logits = model.logits(split.val.X)
        if on_epoch is not None:
            on_epoch(0, softmax(val_logits))
        fit_adjuster(recipe.adjust, val_logits, split.val.y, split.class_counts("train"))
        return model


class _Flatten:
    def __init__(self, inner: Any):
        self.inner = inner

    def transform(self, X: np.ndarray) -> np.ndarray:
        out = self.inner.transform(X)
        return out.reshape(len(out), -1).astype(np.float32) / 255.0
