"""The classical engine: resample hook on training features, class_weight, default models, classifier
hook, adjustment on validation logits; results checked against scikit-learn fitted directly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from benchmark.errors import BenchmarkError
from benchmark.methods.base import Recipe
from benchmark.training.base import TrainingConfig
from benchmark.training.classical import ClassicalEngine
from benchmark.training.features import TabularFeatures


@pytest.fixture
def config() -> TrainingConfig:
    return TrainingConfig(classical_model="logreg")


def features_of(split):
    feats = TabularFeatures(split.feature_kinds).fit(split.train.X)
    return feats, feats.transform(split.train.X)


class DuplicateMinority:
    """Feature-space resampler that records its input and triples the minority rows."""

    space = "features"

    def __init__(self):
        self.calls = []

    def resample(self, X, y, seed):
        self.calls.append((np.array(X), np.array(y), seed))
        extra = np.flatnonzero(y == 1)
        keep = np.r_[np.arange(len(y)), extra, extra]
        return X[keep], y[keep]


def test_resample_runs_once_on_training_features_and_the_model_learns_from_its_output(tabular_split, config):
    sampler = DuplicateMinority()
    model = ClassicalEngine().fit(tabular_split, Recipe(resample=sampler), config, seed=3)
    feats, F = features_of(tabular_split)
    (X_seen, y_seen, seed), = sampler.calls
    assert seed == 3 and np.allclose(X_seen, F) and np.array_equal(y_seen, tabular_split.train.y)
    X_res, y_res = DuplicateMinority().resample(F, tabular_split.train.y, 3)
    expected = LogisticRegression(max_iter=2000, random_state=3).fit(X_res, y_res)
    got = model.predict_proba(tabular_split.test.X)
    assert np.allclose(got, expected.predict_proba(feats.transform(tabular_split.test.X)), atol=1e-6)
    plain = ClassicalEngine().fit(tabular_split, Recipe(), config, seed=3).predict_proba(tabular_split.test.X)
    assert got[:, 1].mean() > plain[:, 1].mean()  # more minority rows -> more minority probability


def test_input_space_resample_sees_raw_rows(text_split, config):
    class RawRecorder:
        space = "input"
        calls = []

        def resample(self, X, y, seed):
            self.calls.append(X)
            return X, y

    ClassicalEngine().fit(text_split, Recipe(resample=RawRecorder()), replace(config, tfidf_max_features=100), seed=0)
    assert RawRecorder.calls and np.array_equal(RawRecorder.calls[0], text_split.train.X)


@pytest.mark.parametrize("name,make", [
    ("logreg", lambda w: LogisticRegression(max_iter=2000, class_weight=w, random_state=0)),
    ("rf", lambda w: RandomForestClassifier(n_estimators=200, class_weight=w, random_state=0, n_jobs=1)),
    ("hgb", lambda w: HistGradientBoostingClassifier(class_weight=w, random_state=0)),
])
def test_class_weight_is_honoured_by_every_default_model(tabular_split, config, name, make):
    weights = np.array([1.0, 6.0])
    model = ClassicalEngine().fit(tabular_split, Recipe(class_weight=weights), replace(config, classical_model=name),
                                  seed=0)
    feats, F = features_of(tabular_split)
    expected = make({0: 1.0, 1: 6.0}).fit(F, tabular_split.train.y)
    X_test = feats.transform(tabular_split.test.X)
    assert np.allclose(model.predict_proba(tabular_split.test.X), expected.predict_proba(X_test), atol=1e-6)
    unweighted = make(None).fit(F, tabular_split.train.y).predict_proba(X_test)
    assert not np.allclose(expected.predict_proba(X_test), unweighted)


def test_classifier_hook_replaces_the_default_model_and_gets_the_seed(tabular_split, config):
    seeds = []

    def classifier(seed):
        seeds.append(seed)
        return RandomForestClassifier(n_estimators=10, random_state=seed)

    model = ClassicalEngine().fit(tabular_split, Recipe(classifier=classifier), config, seed=9)
    assert seeds == [9] and isinstance(model.estimator, RandomForestClassifier)


def test_adjust_is_fitted_on_validation_logits_and_on_epoch_reports_once(tabular_split, config):
    class Recorder:
        def __init__(self):
            self.fitted = None

        def fit(self, val_logits, val_y, counts):
            self.fitted = (val_logits.shape, val_y.tolist(), counts)

        def adjust(self, logits):
            return logits + np.array([0.0, 50.0])  # pushes every prediction to class 1

    adjust, reports = Recorder(), []
    model = ClassicalEngine().fit(tabular_split, Recipe(adjust=adjust), config, seed=0,
                                  on_epoch=lambda e, p: reports.append((e, p.shape)))
    assert adjust.fitted == ((len(tabular_split.val), 2), tabular_split.val.y.tolist(),
                             tabular_split.class_counts("train"))
    assert reports == [(0, (len(tabular_split.val), 2))]
    assert (model.predict_proba(tabular_split.test.X).argmax(1) == 1).all()


def test_images_are_flattened_pixels_and_absent_classes_get_zero_probability(image_split, config):
    class DropClass2:
        space = "features"

        def resample(self, X, y, seed):
            return X[y != 2], y[y != 2]

    model = ClassicalEngine().fit(image_split, Recipe(resample=DropClass2()), config, seed=0)
    proba = model.predict_proba(image_split.test.X)
    assert proba.shape == (len(image_split.test), 3) and np.allclose(proba[:, 2], 0, atol=1e-9)


def test_bad_classical_settings_are_clear_errors(tabular_split, text_split, config):
    with pytest.raises(BenchmarkError, match="'logreg', 'rf' or 'hgb'"):
        ClassicalEngine().fit(tabular_split, Recipe(), replace(config, classical_model="svm"), seed=0)
    with pytest.raises(BenchmarkError, match="token ids"):
        ClassicalEngine().fit(text_split, Recipe(), replace(config, text_features="tokens"), seed=0)
    with pytest.raises(BenchmarkError, match="does not run"):
        ClassicalEngine().fit(tabular_split, Recipe(loss=lambda *a: 0), config, seed=0)
