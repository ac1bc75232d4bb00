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
100, fewer than 20 training samples, as in Liu et al. 2019), ``roc_auc`` (one-vs-rest ROC-AUC, macro
over the present classes), ``weighted_f1`` (per-class F1 weighted by test support), and per-class recall
and F1. Figures a report needs that are not numbers (confusion matrices) come from each seed row's stored
test predictions (:mod:`benchmark.store.predictions`, :mod:`benchmark.report.predictions`).

One rule for classes absent from the scored split (no sample of the class in it), in every metric
that averages over classes: the class is left out, as scikit-learn does when given the present
classes as ``labels=`` (and as ``balanced_accuracy_score`` and ``average_precision_score`` do on
their own). Its recall is 0/0, not 0: counting it as 0 would penalise every method alike for a
property of the split, and would make the same model score differently on two splits that differ
only in which rare classes happened to reach the test part. Predictions *of* an absent class still
count, as false positives in the precision of the present classes. A metric whose classes are all
absent is NaN ("undefined on this split" in reports, a failed trial if it is the objective). The
per-class lists keep scikit-learn's per-class convention (0 where a score is undefined).

Every fact about a metric (label, direction, range, whether it needs probabilities, how it
aggregates, its definition and citation, where the report shows it, and how it is computed) is one
:class:`Metric` record in :data:`METRICS`, as lm-evaluation-harness's ``register_metric`` declares a
metric's direction and aggregation once; the report, its exports and the tuner read it from there.
A new metric computed from a split's labels and probabilities (ROC-AUC, weighted F1) is one entry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int,
              sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Confusion matrix, rows = true class, columns = predicted class (weighted counts with
    ``sample_weight``: a test split re-weighted to another class prior)."""
    idx = y_true.astype(np.int64) * num_classes + y_pred.astype(np.int64)
    return np.bincount(idx, weights=sample_weight, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


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


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, bins: int = 15,
                               sample_weight: np.ndarray | None = None) -> float:
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y_true
    weight = np.ones(len(y_true)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any() and weight[mask].sum() > 0:
            w = weight[mask]
            ece += w.sum() / weight.sum() * abs(np.average(correct[mask], weights=w) - np.average(confidence[mask],
                                                                                                   weights=w))
    return float(ece)


def shot_groups(train_counts: Sequence[int]) -> dict[str, list[int]]:
    counts = np.asarray(train_counts)
    return {
        "many_shot_accuracy": np.flatnonzero(counts > 100).tolist(),
        "medium_shot_accuracy": np.flatnonzero((counts >= 20) & (counts <= 100)).tolist(),
        "few_shot_accuracy": np.flatnonzero(counts < 20).tolist(),
    }


# -- the metric table: every fact about a metric, declared once ----------------------------------
AGGREGATIONS = {
    "mean": "mean over the seed re-runs of a split, then over splits, then over datasets, each with a 95% "
            "Student-t interval (benchmark.report.statistics)",
}
WHERE = ("suite", "dataset", "export")  # suite leaderboard (and every page) / dataset pages where defined / files only
ABSENT_CLASSES = ("Classes with no test sample are left out of the mean (scikit-learn's labels= the present "
                  "classes); undefined if none is present.")


@dataclass(frozen=True)
class Scored:
    """What a metric is computed from: the labels and class probabilities of one split's samples, and
    what :func:`compute_metrics` derives from them once (argmax predictions, confusion, per-class scores)."""

    y_true: np.ndarray
    proba: np.ndarray
    y_pred: np.ndarray
    confusion: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    present: list[int]  # classes with a sample in the scored split (the module's absent-class rule)
    minority: list[int]  # the minority classes among them
    train_counts: Sequence[int] | None = None
    weights: np.ndarray | None = None  # per-sample weights (None: each sample counts once)

    def mean_over(self, values: np.ndarray, classes: Sequence[int]) -> float:
        """Mean of per-class ``values`` over ``classes`` (NaN when there is none)."""
        return float(np.mean(np.asarray(values)[list(classes)])) if len(classes) else float("nan")

    def shot_classes(self, group: str) -> list[int]:
        """The present classes of a many/medium/few-shot ``group``."""
        present = set(self.present)
        return [c for c in shot_groups(self.train_counts or [])[group] if c in present]


@dataclass(frozen=True)
class Metric:
    """One metric: how it is computed and everything a report, an export or a tuner needs to know about it.

    ``compute`` takes a :class:`Scored` and returns the figure (NaN where undefined on the split).
    ``needs_probabilities``: whether it reads the class probabilities (False: the argmax predictions
    suffice, so it can be computed from stored predicted labels). ``needs_train_counts``: computed only
    for multi-class data with known training class counts. ``objective``: may be the tuning objective
    (the study maximises, so only a higher-is-better metric may). ``shown``: where the report shows it
    (one of ``WHERE``); ``compared``: a column of the against-the-baseline and against-the-best-part
    tables; ``aggregation``: how seed, split and dataset figures combine (``AGGREGATIONS``)."""

    name: str
    label: str
    short: str
    tex: str
    definition: str
    compute: Callable[[Scored], float] = field(repr=False)
    citation: str = ""
    higher_is_better: bool = True
    range: tuple[float, float] = (0.0, 1.0)
    needs_probabilities: bool = False
    needs_train_counts: bool = False
    aggregation: str = "mean"
    headline: bool = False
    objective: bool = False
    shown: str = "suite"
    compared: bool = False

    def __post_init__(self) -> None:
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"metric {self.name!r}: aggregation {self.aggregation!r} is unknown; use one of "
                             f"{', '.join(AGGREGATIONS)}")
        if self.shown not in WHERE:
            raise ValueError(f"metric {self.name!r}: shown={self.shown!r} is unknown; use one of {', '.join(WHERE)}")
        if self.objective and not self.higher_is_better:
            raise ValueError(f"metric {self.name!r} cannot be a tuning objective: studies maximise, and lower is "
                             "better for it")
        if not self.range[0] < self.range[1]:
            raise ValueError(f"metric {self.name!r}: range {self.range} is empty")

    @property
    def tooltip(self) -> str:
        """The written definition a report shows for the column: definition, citation, direction."""
        text = self.definition + (f" Source: {self.citation}." if self.citation else "")
        return text + ("" if self.higher_is_better else " Lower is better.")

    @property
    def difference_range(self) -> tuple[float, float]:
        """The range of a difference of two of its figures."""
        width = self.range[1] - self.range[0]
        return (-width, width)

    def best(self, values: Iterable[float | None]) -> float | None:
        """The best of ``values`` (None and NaN ignored; None when none is left)."""
        known = [v for v in values if v is not None and math.isfinite(v)]
        if not known:
            return None
        return max(known) if self.higher_is_better else min(known)

    def sort_key(self, value: float | None) -> float:
        """Sorts best first: ascending key, unknown values last."""
        if value is None or not math.isfinite(value):
            return math.inf
        return -value if self.higher_is_better else value


def _minority_pr_auc(s: Scored) -> float:
    if not s.minority:
        return float("nan")
    return float(np.mean([average_precision_score(s.y_true == c, s.proba[:, c], sample_weight=s.weights)
                          for c in s.minority]))


def _gmean(s: Scored) -> float:
    if not s.present:
        return float("nan")
    with np.errstate(divide="ignore"):
        return float(np.exp(np.mean(np.log(s.recall[s.present]))))


def _macro_roc_auc(s: Scored) -> float:
    if len(s.present) < 2:  # one class present: no negative to rank it against
        return float("nan")
    return float(np.mean([roc_auc_score(s.y_true == c, s.proba[:, c], sample_weight=s.weights) for c in s.present]))


def _weighted_f1(s: Scored) -> float:
    support = s.confusion.sum(axis=1).astype(np.float64)
    return float(np.dot(s.f1, support) / support.sum()) if support.sum() else float("nan")


HE_GARCIA = "He and Garcia, Learning from Imbalanced Data, IEEE TKDE 2009"
LIU = "Liu et al., Large-Scale Long-Tailed Recognition in an Open World, CVPR 2019"
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("minority_recall", "Minority recall", "Min. recall", "Min.\\ recall",
           "Mean recall over the minority classes (binary: the positive class; multi-class: the tail third of "
           "classes by training count). " + ABSENT_CLASSES,
           lambda s: s.mean_over(s.recall, s.minority), citation=HE_GARCIA, headline=True, objective=True,
           compared=True),
    Metric("minority_f1", "Minority F1", "Min. F1", "Min.\\ F1",
           "Mean F1 over the minority classes. " + ABSENT_CLASSES,
           lambda s: s.mean_over(s.f1, s.minority), citation=HE_GARCIA, headline=True, objective=True,
           compared=True),
    Metric("minority_pr_auc", "Minority PR-AUC", "Min. PR-AUC", "Min.\\ PR-AUC",
           "Mean average precision (area under the precision-recall curve, one-vs-rest) over the minority "
           "classes. " + ABSENT_CLASSES, _minority_pr_auc,
           citation="Saito and Rehmsmeier, The Precision-Recall Plot Is More Informative than the ROC Plot When "
                    "Evaluating Binary Classifiers on Imbalanced Datasets, PLOS ONE 2015",
           needs_probabilities=True, headline=True, objective=True, compared=True),
    Metric("balanced_accuracy", "Balanced accuracy", "bal. acc.", "Bal.\\ acc.",
           "Mean recall over all classes. " + ABSENT_CLASSES, lambda s: s.mean_over(s.recall, s.present),
           citation="Brodersen et al., The Balanced Accuracy and Its Posterior Distribution, ICPR 2010",
           objective=True, compared=True),
    Metric("macro_f1", "Macro-F1", "macro-F1", "Macro-F1",
           "Unweighted mean of per-class F1. " + ABSENT_CLASSES, lambda s: s.mean_over(s.f1, s.present),
           citation="Sokolova and Lapalme, A Systematic Analysis of Performance Measures for Classification "
                    "Tasks, Information Processing & Management 2009", objective=True),
    Metric("accuracy", "Accuracy", "accuracy", "Acc.", "Fraction of test samples predicted correctly.",
           lambda s: float(np.trace(s.confusion) / max(s.confusion.sum(), 1)), objective=True, shown="export"),
    Metric("gmean", "G-mean", "G-mean", "G-mean", "Geometric mean of per-class recalls. " + ABSENT_CLASSES, _gmean,
           citation="Kubat and Matwin, Addressing the Curse of Imbalanced Training Sets: One-Sided Selection, "
                    "ICML 1997", objective=True, shown="dataset"),
    Metric("ece", "ECE", "ECE", "ECE", "Expected calibration error of the top-class confidence, 15 equal-width bins.",
           lambda s: expected_calibration_error(s.y_true, s.proba, sample_weight=s.weights),
           citation="Guo et al., On Calibration of Modern Neural Networks, ICML 2017", higher_is_better=False,
           needs_probabilities=True, shown="dataset"),
    Metric("many_shot_accuracy", "Many-shot", "many-shot", "Many-shot",
           "Mean recall of classes with more than 100 training samples. " + ABSENT_CLASSES,
           lambda s: s.mean_over(s.recall, s.shot_classes("many_shot_accuracy")), citation=LIU,
           needs_train_counts=True, shown="dataset"),
    Metric("medium_shot_accuracy", "Medium-shot", "medium-shot", "Medium-shot",
           "Mean recall of classes with 20 to 100 training samples. " + ABSENT_CLASSES,
           lambda s: s.mean_over(s.recall, s.shot_classes("medium_shot_accuracy")), citation=LIU,
           needs_train_counts=True, shown="dataset"),
    Metric("few_shot_accuracy", "Few-shot", "few-shot", "Few-shot",
           "Mean recall of classes with fewer than 20 training samples. " + ABSENT_CLASSES,
           lambda s: s.mean_over(s.recall, s.shot_classes("few_shot_accuracy")), citation=LIU,
           needs_train_counts=True, shown="dataset", compared=True),
    Metric("roc_auc", "ROC-AUC", "ROC-AUC", "ROC-AUC",
           "Area under the ROC curve, one-vs-rest for each class, unweighted mean over the classes (binary: the "
           "positive class's, which equals the negative's). " + ABSENT_CLASSES + " Undefined with one class present.",
           _macro_roc_auc, citation="Hand and Till, A Simple Generalisation of the Area Under the ROC Curve for "
                                    "Multiple Class Classification Problems, Machine Learning 2001",
           needs_probabilities=True, shown="dataset"),
    Metric("weighted_f1", "Weighted F1", "weighted F1", "W.\\ F1",
           "Mean of per-class F1 weighted by each class's number of test samples (scikit-learn's "
           "average='weighted'): dominated by the majority classes, shown beside macro-F1 for that contrast.",
           _weighted_f1, citation="Pedregosa et al., Scikit-learn: Machine Learning in Python, JMLR 2011",
           shown="dataset"),
)}


def metric(name: str) -> Metric:
    """The table's entry for ``name``; an unknown name is an error that lists the known ones."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"metric {name!r} is not in benchmark.metrics.METRICS (known: {', '.join(METRICS)}); add "
                       "an entry there") from None


# Views of the table, in its order.
HEADLINE = tuple(m.name for m in METRICS.values() if m.headline)
SUMMARY = tuple(m.name for m in METRICS.values() if not m.needs_train_counts)  # computed on every split
OBJECTIVES = tuple(m.name for m in METRICS.values() if m.objective)
SUITE_COLUMNS = tuple(m.name for m in METRICS.values() if m.shown == "suite")
DATASET_COLUMNS = tuple(m.name for m in METRICS.values() if m.shown == "dataset")
COMPARED = tuple(m.name for m in METRICS.values() if m.compared)
REPORTED = tuple(METRICS)  # every metric: the CSV and JSON columns


def compute_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    minority_classes: Sequence[int],
    train_counts: Sequence[int] | None = None,
    sample_weight: np.ndarray | None = None,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Score class probabilities ``proba`` (N, C) against labels ``y_true`` (N,).

    Predictions are the argmax of ``proba`` (post-hoc adjustments are applied before this).
    ``sample_weight`` weights each test sample (the prior-shift scenario re-weights the test split to
    another class prior: every metric is then its definition on the weighted confusion matrix and curves).
    Returns ``(metrics, per_class)``: scalar metrics and per-class lists (recall, f1, precision).
    """
    scored = score(y_true, proba, minority_classes, train_counts, sample_weight)
    long_tail = train_counts is not None and scored.proba.shape[1] > 2
    metrics = {m.name: m.compute(scored) for m in METRICS.values() if long_tail or not m.needs_train_counts}
    per_class = {"recall": scored.recall.tolist(), "f1": scored.f1.tolist(), "precision": scored.precision.tolist()}
    return metrics, per_class


def compute_metric(name: str, y_true: np.ndarray, proba: np.ndarray, minority_classes: Sequence[int],
                   train_counts: Sequence[int] | None = None) -> float:
    """One metric of the table, the figure :func:`compute_metrics` gives it, without computing the others
    (the tuning objective after every epoch of every trial)."""
    return metric(name).compute(score(y_true, proba, minority_classes, train_counts))


def score(y_true: np.ndarray, proba: np.ndarray, minority_classes: Sequence[int],
          train_counts: Sequence[int] | None = None, sample_weight: np.ndarray | None = None) -> Scored:
    """What every metric is computed from (see :func:`compute_metrics`), checked and derived once."""
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[0] != y_true.shape[0]:
        raise ValueError(f"proba has shape {proba.shape}; expected ({y_true.shape[0]}, num_classes)")
    if not np.isfinite(proba).all():
        raise ValueError("proba holds NaN or infinite values")
    num_classes = proba.shape[1]
    y_pred = proba.argmax(axis=1)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    cm = confusion(y_true, y_pred, num_classes, weights)
    precision, recall, f1 = per_class_scores(cm)
    present = np.flatnonzero(cm.sum(axis=1) > 0).tolist()  # the module's rule: absent classes left out
    minority = [c for c in minority_classes if c in set(present)]
    return Scored(y_true, proba, y_pred, cm, precision, recall, f1, present, minority, train_counts, weights)


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
