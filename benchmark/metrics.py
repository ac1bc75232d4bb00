"""Metrics of a classifier on imbalanced data, defined once for every report.

"Minority classes" come from the split (see :func:`benchmark.protocol.minority_classes`): the
positive class of a binary task, the tail third of classes by training count otherwise. Headline
metrics average over those classes:

- ``minority_recall``: mean recall of the minority classes.
- ``minority_f1``: mean F1 of the minority classes.
- ``minority_pr_auc``: mean average precision (area under the precision-recall curve, computed as
  scikit-learn's ``average_precision_score``) of each minority class one-vs-rest.

Also ``balanced_accuracy`` (mean per-class recall), ``macro_f1``, ``accuracy``, ``gmean`` (geometric
mean of per-class recalls), ``ece`` (expected calibration error, 15 equal-width bins of the top-class
confidence), many/medium/few-shot accuracy for long-tailed data (classes with more than 100, 20 to
100, fewer than 20 training samples, as in Liu et al. 2019), and per-class recall and F1.

One rule for classes absent from the scored split (no sample of the class in it), in every metric
that averages over classes: the class is left out, as scikit-learn does when given the present
classes as ``labels=`` (and as ``balanced_accuracy_score`` and ``average_precision_score`` do on
their own). Its recall is 0/0, not 0: counting it as 0 would penalise every method alike for a
property of the split, and would make the same model score differently on two splits that differ
only in which rare classes happened to reach the test part. Predictions *of* an absent class still
count, as false positives in the precision of the present classes. A metric whose classes are all
absent is NaN ("undefined on this split" in reports, a failed trial if it is the objective). The
per-class lists keep scikit-learn's per-class convention (0 where a score is undefined).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats
from sklearn.metrics import average_precision_score

HEADLINE = ("minority_recall", "minority_f1", "minority_pr_auc")
SUMMARY = HEADLINE + ("balanced_accuracy", "macro_f1", "accuracy", "gmean", "ece")

# Written definitions, shown as column tooltips in reports.
ABSENT_CLASSES = ("Classes with no test sample are left out of the mean (scikit-learn's labels= the present "
                  "classes); undefined if none is present.")
DEFINITIONS = {
    "minority_recall": "Mean recall over the minority classes (binary: the positive class; multi-class: the tail "
                       "third of classes by training count). " + ABSENT_CLASSES,
    "minority_f1": "Mean F1 over the minority classes. " + ABSENT_CLASSES,
    "minority_pr_auc": "Mean average precision (area under the precision-recall curve, one-vs-rest) over the "
                       "minority classes. " + ABSENT_CLASSES,
    "balanced_accuracy": "Mean recall over all classes. " + ABSENT_CLASSES,
    "macro_f1": "Unweighted mean of per-class F1. " + ABSENT_CLASSES,
    "accuracy": "Fraction of test samples predicted correctly.",
    "gmean": "Geometric mean of per-class recalls. " + ABSENT_CLASSES,
    "ece": "Expected calibration error of the top-class confidence, 15 equal-width bins.",
    "many_shot_accuracy": "Mean recall of classes with more than 100 training samples. " + ABSENT_CLASSES,
    "medium_shot_accuracy": "Mean recall of classes with 20 to 100 training samples. " + ABSENT_CLASSES,
    "few_shot_accuracy": "Mean recall of classes with fewer than 20 training samples. " + ABSENT_CLASSES,
}

OBJECTIVES = HEADLINE + ("balanced_accuracy", "macro_f1", "accuracy", "gmean")


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion matrix, rows = true class, columns = predicted class."""
    idx = y_true.astype(np.int64) * num_classes + y_pred.astype(np.int64)
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_scores(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall and F1 from a confusion matrix (0 where undefined, as sklearn)."""
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, tp / support, 0.0)
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, bins: int = 15) -> float:
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def shot_groups(train_counts: Sequence[int]) -> dict[str, list[int]]:
    counts = np.asarray(train_counts)
    return {
        "many_shot_accuracy": np.flatnonzero(counts > 100).tolist(),
        "medium_shot_accuracy": np.flatnonzero((counts >= 20) & (counts <= 100)).tolist(),
        "few_shot_accuracy": np.flatnonzero(counts < 20).tolist(),
    }


def compute_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    minority_classes: Sequence[int],
    train_counts: Sequence[int] | None = None,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Score class probabilities ``proba`` (N, C) against labels ``y_true`` (N,).

    Predictions are the argmax of ``proba`` (post-hoc adjustments are applied before this).
    Returns ``(metrics, per_class)``: scalar metrics and per-class lists (recall, f1, precision).
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[0] != y_true.shape[0]:
        raise ValueError(f"proba has shape {proba.shape}; expected ({y_true.shape[0]}, num_classes)")
    if not np.isfinite(proba).all():
        raise ValueError("proba holds NaN or infinite values")
    num_classes = proba.shape[1]
    minority = list(minority_classes)
    y_pred = proba.argmax(axis=1)
    cm = confusion(y_true, y_pred, num_classes)
    precision, recall, f1 = per_class_scores(cm)
    present = cm.sum(axis=1) > 0
    minority_present = [c for c in minority if present[c]]  # the module's rule: absent classes left out

    def mean_over(values: np.ndarray | list[float], classes: Sequence[int]) -> float:
        return float(np.mean(np.asarray(values)[list(classes)])) if len(classes) else float("nan")

    def pr_auc(c: int) -> float:
        return float(average_precision_score(y_true == c, proba[:, c]))

    with np.errstate(divide="ignore"):
        gmean = float(np.exp(np.mean(np.log(recall[present])))) if present.any() else float("nan")
    all_present = np.flatnonzero(present).tolist()
    metrics = {
        "minority_recall": mean_over(recall, minority_present),
        "minority_f1": mean_over(f1, minority_present),
        "minority_pr_auc": float(np.mean([pr_auc(c) for c in minority_present])) if minority_present else float("nan"),
        "balanced_accuracy": mean_over(recall, all_present),
        "macro_f1": mean_over(f1, all_present),
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "gmean": gmean,
        "ece": expected_calibration_error(y_true, proba),
    }
    if train_counts is not None and num_classes > 2:
        for key, classes in shot_groups(train_counts).items():
            metrics[key] = mean_over(recall, [c for c in classes if present[c]])
    per_class = {"recall": recall.tolist(), "f1": f1.tolist(), "precision": precision.tolist()}
    return metrics, per_class


def pr_curves(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[int], points: int = 100) -> dict[str, dict]:
    """Precision-recall curve of each class in ``classes`` (one-vs-rest), thinned to about
    ``points`` points, for report plots: ``{class: {"precision": [...], "recall": [...]}}``."""
    from sklearn.metrics import precision_recall_curve

    curves = {}
    for c in classes:
        positives = np.asarray(y_true) == c
        if not positives.any():
            continue
        precision, recall, _ = precision_recall_curve(positives, np.asarray(proba)[:, c])
        keep = np.unique(np.linspace(0, len(precision) - 1, min(points, len(precision))).round().astype(int))
        curves[str(c)] = {"precision": np.round(precision[keep], 4).tolist(), "recall": np.round(recall[keep], 4).tolist()}
    return curves


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the Student-t confidence interval over seeds (NaN width for n < 2)."""
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    if arr.size == 0:
        return float("nan"), float("nan")
    mean = float(arr.mean())
    if arr.size < 2:
        return mean, float("nan")
    half = float(stats.t.ppf(0.5 + confidence / 2, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))
    return mean, half


def difference_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Difference of means ``mean(a) - mean(b)`` over seeds and the half-width of its Welch interval.

    The two methods' seed re-runs are independent samples (seed k of one method shares nothing with
    seed k of another but the number), so the interval is Welch's unequal-variance t interval, not a
    paired one. NaN width when either side has fewer than 2 values."""
    x = np.asarray([v for v in a if v is not None and not math.isnan(v)], dtype=np.float64)
    y = np.asarray([v for v in b if v is not None and not math.isnan(v)], dtype=np.float64)
    if x.size == 0 or y.size == 0:
        return float("nan"), float("nan")
    diff = float(x.mean() - y.mean())
    if x.size < 2 or y.size < 2:
        return diff, float("nan")
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(vx + vy)
    if se == 0.0:
        return diff, 0.0
    df = (vx + vy) ** 2 / (vx ** 2 / (x.size - 1) + vy ** 2 / (y.size - 1))
    return diff, float(stats.t.ppf(0.5 + confidence / 2, df) * se)
