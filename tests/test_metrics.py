"""Metrics agree with scikit-learn on random inputs; intervals agree with scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    recall_score,
)

from benchmark.metrics import compute_metrics, expected_calibration_error, mean_interval, pr_curves
from benchmark.protocol import minority_classes


def random_case(seed: int, n: int = 300, classes: int = 5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n)
    logits = rng.normal(size=(n, classes)) + 1.5 * np.eye(classes)[y] * rng.random((n, 1))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


@pytest.mark.parametrize("seed", range(5))
def test_multiclass_metrics_match_sklearn(seed):
    y, proba = random_case(seed)
    minority = [3, 4]
    metrics, per_class = compute_metrics(y, proba, minority)
    pred = proba.argmax(1)
    assert metrics["minority_recall"] == pytest.approx(recall_score(y, pred, labels=minority, average="macro"))
    assert metrics["minority_f1"] == pytest.approx(f1_score(y, pred, labels=minority, average="macro"))
    expected_ap = np.mean([average_precision_score(y == c, proba[:, c]) for c in minority])
    assert metrics["minority_pr_auc"] == pytest.approx(expected_ap)
    assert metrics["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert metrics["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert per_class["recall"] == pytest.approx(recall_score(y, pred, average=None).tolist())
    recalls = recall_score(y, pred, average=None)
    assert metrics["gmean"] == pytest.approx(float(np.prod(recalls) ** (1 / len(recalls))))


@pytest.mark.parametrize("seed", range(3))
def test_binary_metrics_use_the_positive_class(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(400) < 0.1).astype(int)
    score = np.clip(0.6 * y + rng.random(400) * 0.7, 0, 1)
    proba = np.stack([1 - score, score], axis=1)
    metrics, _ = compute_metrics(y, proba, [1])
    pred = proba.argmax(1)
    assert metrics["minority_recall"] == pytest.approx(recall_score(y, pred))
    assert metrics["minority_f1"] == pytest.approx(f1_score(y, pred))
    assert metrics["minority_pr_auc"] == pytest.approx(average_precision_score(y, score))


def test_shot_groups_follow_training_counts():
    y = np.array([0, 0, 1, 1, 2, 2])
    proba = np.eye(3)[[0, 0, 1, 0, 2, 0]]
    metrics, _ = compute_metrics(y, proba, [2], train_counts=[500, 50, 5])
    assert metrics["many_shot_accuracy"] == 1.0
    assert metrics["medium_shot_accuracy"] == 0.5
    assert metrics["few_shot_accuracy"] == 0.5


def test_ece_of_a_perfectly_calibrated_and_an_overconfident_model():
    y = np.array([0, 1, 0, 1])
    assert expected_calibration_error(y, np.eye(2)[y]) == pytest.approx(0.0)
    wrong = np.eye(2)[1 - y]
    assert expected_calibration_error(y, wrong) == pytest.approx(1.0)


def test_invalid_probabilities_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        compute_metrics(np.array([0, 1]), np.array([[np.nan, 1.0], [0.5, 0.5]]), [1])
    with pytest.raises(ValueError, match="shape"):
        compute_metrics(np.array([0, 1, 1]), np.ones((2, 2)) / 2, [1])


def test_mean_interval_matches_scipy_t_interval():
    values = [0.61, 0.64, 0.58, 0.66]
    mean, half = mean_interval(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values))
    assert half == pytest.approx((high - low) / 2)
    assert np.isnan(mean_interval([0.5])[1])


def test_minority_classes_binary_and_tail_third():
    assert minority_classes([900, 100]) == [1]
    assert minority_classes([5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]) == [6, 7, 8, 9]
    assert minority_classes([10, 300, 20, 200, 5, 100]) == [0, 4]


def test_pr_curves_are_thinned_and_end_at_full_recall():
    y, proba = random_case(0, n=2000)
    curves = pr_curves(y, proba, [3, 4], points=50)
    assert set(curves) == {"3", "4"}
    assert len(curves["3"]["precision"]) <= 50
    assert curves["3"]["recall"][0] == 1.0


def test_difference_interval_is_welchs_t_interval():
    from benchmark.metrics import difference_interval

    a, b = [0.80, 0.84, 0.83], [0.70, 0.78, 0.71, 0.75]
    diff, half = difference_interval(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert diff == pytest.approx(np.mean(a) - np.mean(b))
    assert (diff - half, diff + half) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert math.isnan(difference_interval([0.5], b)[1])
    assert difference_interval([0.5, 0.5], [0.5, 0.5]) == (0.0, 0.0)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")  # scikit-learn's, on purpose here
def test_absent_classes_are_left_out_of_every_mean_as_sklearn_with_present_labels():
    """One rule for classes with no test sample: left out, like scikit-learn given labels= the present
    classes. Class 3 (a minority class) is absent from y_true but predicted once; class 4 is present."""
    y = np.array([0, 0, 0, 1, 1, 2, 2, 4, 4, 4])
    pred = np.array([0, 0, 1, 1, 3, 2, 0, 4, 4, 2])
    proba = np.full((10, 5), 0.05) + 0.75 * np.eye(5)[pred]
    metrics, per_class = compute_metrics(y, proba, minority_classes=[3, 4], train_counts=[500, 50, 50, 5, 5])
    present = [0, 1, 2, 4]
    assert metrics["minority_recall"] == pytest.approx(recall_score(y, pred, labels=[4], average="macro"))
    assert metrics["minority_recall"] == pytest.approx(2 / 3)  # by hand: class 4 only (the old rule gave 1/3)
    assert metrics["minority_f1"] == pytest.approx(f1_score(y, pred, labels=[4], average="macro"))
    assert metrics["minority_f1"] == pytest.approx(0.8)  # precision 2/2, recall 2/3
    assert metrics["minority_pr_auc"] == pytest.approx(average_precision_score(y == 4, proba[:, 4]))
    assert metrics["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert metrics["balanced_accuracy"] == pytest.approx(recall_score(y, pred, labels=present, average="macro"))
    assert metrics["macro_f1"] == pytest.approx(f1_score(y, pred, labels=present, average="macro"))
    recalls = recall_score(y, pred, labels=present, average=None)
    assert metrics["gmean"] == pytest.approx(float(np.prod(recalls) ** (1 / len(recalls))))
    assert metrics["few_shot_accuracy"] == pytest.approx(2 / 3)  # classes 3 and 4: only 4 is present
    assert per_class["recall"][3] == 0.0  # per-class lists keep scikit-learn's 0 where undefined
    # every minority class absent: the minority metrics are undefined, not 0
    only_head = compute_metrics(np.array([0, 0, 1]), np.eye(5)[[0, 1, 1]], minority_classes=[3, 4])[0]
    assert all(math.isnan(only_head[m]) for m in ("minority_recall", "minority_f1", "minority_pr_auc"))


def test_definitions_state_the_absent_class_rule():
    from benchmark.metrics import METRICS

    for metric in ("minority_recall", "minority_f1", "minority_pr_auc", "balanced_accuracy", "macro_f1", "gmean"):
        assert "left out" in METRICS[metric].definition, metric
