"""Post-hoc adjustment: logit adjustment by the prior, thresholds tuned on validation only."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from benchmark.errors import BenchmarkError
from benchmark.methods import Recipe
from benchmark.methods.post_hoc import PosthocLogitAdjustment, ThresholdMoving, binary_f1_threshold, macro_f1
from benchmark.training.base import TrainingConfig
from benchmark.training.classical import ClassicalEngine


def test_logit_adjustment_shifts_argmax_as_expected():
    counts = [90, 10]  # log prior: log 0.9, log 0.1; class 0 keeps the argmax iff z0 - z1 > tau log 9
    logits = np.array([[0.5, 0.0], [1.5, 0.0], [2.5, 0.0], [0.0, 0.2]])
    adjusted = PosthocLogitAdjustment(counts, tau=1.0).adjust(logits)
    assert np.allclose(adjusted, logits - np.log([0.9, 0.1]))
    assert adjusted.argmax(axis=1).tolist() == [1, 1, 0, 1]  # log 9 = 2.197
    assert PosthocLogitAdjustment(counts, tau=0.0).adjust(logits).argmax(axis=1).tolist() == [0, 0, 0, 1]
    half = PosthocLogitAdjustment(counts, tau=0.5).adjust(logits).argmax(axis=1)
    assert half.tolist() == [1, 0, 0, 1]  # 0.5 log 9 = 1.099


def test_binary_threshold_maximises_validation_f1_exactly():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(80, int), np.ones(20, int)]
    log_odds = rng.normal(loc=np.where(y == 1, 0.0, -2.0), scale=1.0)
    cut = binary_f1_threshold(log_odds, y)
    best = f1_score(y, (log_odds > cut).astype(int))
    brute = max(f1_score(y, (log_odds >= s).astype(int)) for s in np.unique(log_odds))
    assert best == pytest.approx(brute)
    assert best > f1_score(y, (log_odds > 0).astype(int))  # the default threshold is worse here

    mover = ThresholdMoving()
    logits = np.stack([np.zeros_like(log_odds), log_odds], axis=1)
    assert mover.fitted() == {}  # nothing chosen before fit
    mover.fit(logits, y, [80, 20])
    assert f1_score(y, mover.adjust(logits).argmax(axis=1)) == pytest.approx(brute)
    assert mover.fitted() == {"offsets": [0.0, pytest.approx(mover.offsets[1], abs=1e-4)]}


def test_multiclass_offsets_do_not_lower_validation_macro_f1():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], [60, 30, 10])
    clean = np.eye(3)[y] * 2.0 + rng.normal(scale=1.0, size=(100, 3))
    biased = clean - np.array([0.0, 1.0, 2.5])  # the rarer the class, the more it is under-predicted
    mover = ThresholdMoving()
    mover.fit(biased, y, [60, 30, 10])
    assert mover.offsets[0] == 0.0
    assert macro_f1(mover.adjust(biased), y) > macro_f1(biased, y) + 0.05
    assert mover.offsets[2] > mover.offsets[1] > 0  # it undoes the bias in the right order


def test_adjust_before_fit_is_an_error():
    with pytest.raises(BenchmarkError, match="before it was fitted"):
        ThresholdMoving().adjust(np.zeros((2, 2)))


class RecordingThresholds(ThresholdMoving):
    def fit(self, val_logits, val_y, train_counts):
        self.seen = (np.asarray(val_logits).shape, np.asarray(val_y).copy(), list(train_counts))
        super().fit(val_logits, val_y, train_counts)


def test_thresholds_are_tuned_on_validation_rows_only(tabular_split):
    mover = RecordingThresholds()
    model = ClassicalEngine().fit(tabular_split, Recipe(adjust=mover), TrainingConfig(), seed=0)
    shape, val_y, counts = mover.seen
    assert shape == (len(tabular_split.val), 2)
    assert np.array_equal(val_y, tabular_split.val.y)
    assert counts == tabular_split.class_counts("train")
    proba = model.predict_proba(tabular_split.test.X)
    assert proba.shape == (len(tabular_split.test), 2) and np.allclose(proba.sum(axis=1), 1.0)
