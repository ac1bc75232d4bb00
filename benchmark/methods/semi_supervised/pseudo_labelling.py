"""Pseudo-labelling (``pseudo-labelling``): Yang & Xu 2020's semi-supervised remedy for class imbalance.

Yang & Xu ("Rethinking the Value of Labels for Improving Class-Imbalanced Learning", NeurIPS 2020,
section 3) train an intermediate classifier on the labelled, imbalanced data, give the unlabeled pool
its predictions as pseudo-labels, and train the final model on both: the pool's extra rows, even with
noisy labels, shrink the bias of the tail classes. Within the suite's fixed budget the two trainings
are two stages of one run: the first (a tuned share of the epochs) trains on the labelled rows; at the
start of the second a :class:`~benchmark.methods.base.Stage` with ``pseudo_label`` makes the engine
predict the pool with the model as it is, hand the class probabilities (never a label: the pool has
none) to :class:`ConfidentPseudoLabels`, and train on the labelled rows plus the rows it selected, with
their pseudo-labels. Every epoch of both stages trains the same fixed sample count as every other row's.

Selection: the argmax class of every pool row whose confidence (its top probability) reaches a tuned
threshold; optionally (tuned) each class keeps at most its labelled share of the confident rows, its
most confident ones first. A model trained on imbalanced data labels many tail rows as head classes, so
without the cap the pseudo-labelled set can be more head-heavy than the labelled one and amplify the
bias the method is meant to reduce; the cap keeps it at most as imbalanced as the labelled set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import YANG_XU_BIB
from benchmark.methods.base import (
    UNLABELED_TAG,
    MethodContext,
    Recipe,
    Stage,
    register_method,
    unlabeled_pool_reason,
)
from benchmark.methods.stages.two_stage import two_stage_schedule

CAPS = ("none", "labelled-share")


class ConfidentPseudoLabels:
    """The ``Stage.pseudo_label`` component: ``select(proba, seed) -> (rows, labels)``.

    Args:
        threshold: the confidence (top class probability) a pool row needs to be kept.
        class_counts: the labelled training counts per class (the cap's shares).
        cap: "none", or "labelled-share": class c keeps at most ceil(n_c / N x K) of the K confident rows,
            its most confident first.

    ``select`` sees only the model's probabilities of the pool rows; the selection is deterministic
    (ties in confidence broken by row order), so ``seed`` is not needed. ``last_selection`` records the
    counts of the last call (rows offered, confident, kept, per class).
    """

    uses_unlabeled = True

    def __init__(self, threshold: float, class_counts: Sequence[int], cap: str = "none"):
        if not 0.0 <= threshold <= 1.0:
            raise BenchmarkError(f"pseudo-labelling got a confidence threshold of {threshold}",
                                 "use a threshold between 0 and 1 (a class probability)")
        if cap not in CAPS:
            raise BenchmarkError(f"pseudo-labelling class cap {cap!r} is unknown", f"use one of {', '.join(CAPS)}")
        counts = np.asarray(class_counts, dtype=np.float64)
        if counts.ndim != 1 or counts.size < 2 or (counts < 0).any() or counts.sum() <= 0:
            raise BenchmarkError(f"pseudo-labelling got class counts {list(class_counts)}",
                                 "give the labelled training count of every class")
        self.threshold, self.cap, self.shares = float(threshold), cap, counts / counts.sum()
        self.last_selection: dict[str, object] = {}

    def select(self, proba: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(pool rows, their pseudo-labels), rows ascending, from the class probabilities (M, C) of the pool."""
        proba = np.asarray(proba, dtype=np.float64)
        if proba.ndim != 2 or proba.shape[1] != self.shares.size or not np.isfinite(proba).all():
            raise BenchmarkError(f"pseudo-labelling got pool probabilities of shape {proba.shape}",
                                 f"pass finite class probabilities (M, {self.shares.size}) of the pool rows")
        confidence, labels = proba.max(axis=1), proba.argmax(axis=1)
        confident = np.flatnonzero(confidence >= self.threshold)
        kept = confident
        if self.cap == "labelled-share" and confident.size:
            kept_parts = []
            for c in range(self.shares.size):
                rows = confident[labels[confident] == c]
                limit = math.ceil(self.shares[c] * confident.size)
                # most confident first; a stable sort keeps row order among ties
                kept_parts.append(rows[np.argsort(-confidence[rows], kind="stable")[:limit]])
            kept = np.sort(np.concatenate(kept_parts))
        self.last_selection = {"offered": int(proba.shape[0]), "confident": int(confident.size),
                               "kept": int(kept.size),
                               "per_class": np.bincount(labels[kept], minlength=self.shares.size).tolist()}
        return kept.astype(np.int64), labels[kept].astype(np.int64)


def pseudo_labelling_space(trial, ctx: MethodContext) -> dict:
    """The first stage's share, the confidence threshold and the class cap."""
    return {"first_stage_share": trial.suggest_float("first_stage_share", 0.3, 0.8),
            "threshold": trial.suggest_float("threshold", 0.5, 0.99),
            "class_cap": trial.suggest_categorical("class_cap", list(CAPS))}


@register_method(
    "pseudo-labelling",
    family="semi-supervised",
    modalities=("image",),
    engines=("deep",),
    summary="Train on the labelled rows, pseudo-label the dataset's unlabeled pool with that model (confident "
            "rows, optionally capped per class), then train on both.",
    paper=YANG_XU_BIB,
    search_space=pseudo_labelling_space,
    applies_to=unlabeled_pool_reason,
    tags=(UNLABELED_TAG,),
    differences="Yang & Xu train the intermediate classifier and the final model separately, each for a full "
                "schedule, and weigh the pseudo-labelled loss by omega; here both are stages of one run within the "
                "suite's epochs (the first, on the labelled rows, takes a tuned 30-80%), the final stage continues "
                "from the intermediate model's weights, and the pseudo-labelled rows join the labelled rows in the "
                "epochs' shuffled draws (their weight is their share of the union). Only pool rows whose top "
                "probability reaches a tuned threshold (0.5-0.99) are kept; the per-class cap (tuned: none, or "
                "each class at most its labelled share of the kept rows, most confident first) keeps the "
                "pseudo-labels from being more head-heavy than the labelled set. The pool is labelled once, at the "
                "start of the second stage. Image data only: no text or tabular dataset exposes a pool yet (the "
                "selection itself reads only class probabilities, of any modality).",
)
def pseudo_labelling(params: dict, ctx: MethodContext) -> Recipe:
    """Pseudo-labelling (Yang & Xu 2020, semi-supervised part) in two stages of the suite's budget."""
    selector = ConfidentPseudoLabels(params.get("threshold", 0.9), ctx.class_counts, params.get("class_cap", "none"))
    labelled = Stage("labelled", 0.0)
    combined = Stage("labelled+pseudo-labelled", 0.0, pseudo_label=selector)
    return Recipe(stages=two_stage_schedule(labelled, combined, params.get("first_stage_share", 0.5)))
