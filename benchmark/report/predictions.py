"""What a report computes from the stored test predictions (:mod:`benchmark.store.predictions`), never
re-training: figures of metrics added after a row was scored, and confusion matrices.

A confusion matrix is not a number, so it is no entry of the metric table: the dataset page shows it for
the best methods, pooled over their seed rows (every split seed and seed), each row normalised by the
true class's test samples (so a row is that class's distribution of predictions; its diagonal is recall).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmark.metrics import confusion
from benchmark.report.records import StoredRun
from benchmark.store import OK, Store
from benchmark.store.predictions import load_predictions, missing_metrics

BEST_SHOWN = 3  # confusion matrices on a dataset page: its best methods on the objective
MAX_CLASSES = 20  # more classes than this make a matrix no page can show legibly


def fill_missing_metrics(store: Store, run: StoredRun, problems: list[str]) -> int:
    """Add to each successful seed row the metric-table figures it lacks, computed from its stored
    predictions (a metric added after the row was scored). Returns how many rows gained a figure.
    Run after the hashes are taken: they cover the scores as stored."""
    predictions = load_predictions(store, run.suite, problems=problems) if run.results else {}
    filled = 0
    for r in run.results:
        p = predictions.get((r.suite, r.dataset, r.method, r.split_seed, r.seed))
        if r.status != OK or p is None:
            continue
        extra = missing_metrics(r.metrics, p)
        if extra:
            r.metrics = {**r.metrics, **extra}
            filled += 1
    return filled


def confusion_matrices(store: Store, run: StoredRun, problems: list[str]) -> dict[str, dict[str, tuple[np.ndarray, int]]]:
    """dataset -> method -> (confusion matrix summed over its stored seed rows, how many rows), read one
    dataset at a time (only the matrices are kept)."""
    out: dict[str, dict[str, tuple[np.ndarray, int]]] = {}
    for dataset in sorted({r.dataset for r in run.results if r.status == OK}):
        for (_, _, method, _, _), p in load_predictions(store, run.suite, dataset=dataset, problems=problems).items():
            classes = p.proba.shape[1]
            matrix, n = out.setdefault(dataset, {}).get(method, (np.zeros((classes, classes), dtype=np.int64), 0))
            if matrix.shape != (classes, classes):
                problems.append(f"{dataset} x {method}: stored predictions have different numbers of classes")
                continue
            out[dataset][method] = (matrix + confusion(p.y_true, p.y_pred, classes), n + 1)
    return out


def confusion_panels(matrices: dict[str, tuple[np.ndarray, int]], order: Sequence[str], class_labels: Sequence[str],
                     head_to_tail: Sequence[int], best: int = BEST_SHOWN) -> dict[str, Any]:
    """A dataset page's confusion matrices: the first ``best`` methods of ``order`` with stored predictions,
    classes in ``head_to_tail`` order; ``confusion_note`` says why none is shown."""
    panels = []
    for method in [m for m in order if m in matrices][:best]:
        matrix, seed_rows = matrices[method]
        classes = matrix.shape[0]
        if classes > MAX_CLASSES:
            return {"confusion": [], "confusion_note": f"{classes} classes are too many to show a confusion matrix "
                                                      "legibly; a bundle's predictions hold them"}
        ordered = [c for c in head_to_tail if c < classes] or list(range(classes))
        labels = [class_labels[c] if c < len(class_labels) else str(c) for c in ordered]
        panels.append(_panel(method, matrix[np.ix_(ordered, ordered)], labels, seed_rows))
    note = None if panels else "no stored test predictions for this dataset (rows scored before predictions were kept)"
    return {"confusion": panels, "confusion_note": note}


def _panel(method: str, matrix: np.ndarray, labels: list[str], seed_rows: int) -> dict[str, Any]:
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=np.float64), where=totals > 0)
    cells = [[{"count": int(matrix[i, j]), "share": float(share[i, j]), "diagonal": i == j}
              for j in range(len(labels))] for i in range(len(labels))]
    return {"method": method, "labels": labels, "cells": cells, "seed_rows": seed_rows,
            "support": [int(t) for t in totals[:, 0]]}
