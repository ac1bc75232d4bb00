"""Post-hoc adjustment of a trained model's logits (the ``adjust`` hook, both engines).

The engines call ``fit(val_logits, val_y, train_counts)`` once after training, with validation
logits only (test rows are never seen), then ``adjust(logits)`` at every prediction. The classical
engine's logits are log-probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import LOGIT_ADJUSTMENT_BIB, THRESHOLD_MOVING_BIB
from benchmark.methods.base import ALL_MODALITIES, BOTH_ENGINES, MethodContext, Recipe, register_method
from benchmark.methods.losses.margin import log_prior
from benchmark.metrics import confusion, per_class_scores


def binary_f1_threshold(log_odds: np.ndarray, y: np.ndarray) -> float:
    """The cut t on the log-odds z_1 - z_0 that maximises the positive class's F1 when predicting
    positive iff z > t. Candidates are midpoints between consecutive distinct scores (and one cut
    below and above all), so every distinct decision is tried once; ties go to the cut nearest 0,
    the default decision."""
    scores = np.unique(log_odds)
    cuts = np.concatenate([[scores[0] - 1.0], (scores[:-1] + scores[1:]) / 2, [scores[-1] + 1.0]])
    positives = int((y == 1).sum())
    # predicted positive at cut t: z > t; count true and false positives for every cut at once
    order = np.sort(log_odds[y == 1])
    neg = np.sort(log_odds[y != 1])
    tp = positives - np.searchsorted(order, cuts, side="right")
    fp = len(neg) - np.searchsorted(neg, cuts, side="right")
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(tp > 0, 2 * tp / (2 * tp + fp + (positives - tp)), 0.0)
    best = f1.max()
    candidates = cuts[np.isclose(f1, best)]
    return float(candidates[np.argmin(np.abs(candidates))])


def macro_f1(logits: np.ndarray, y: np.ndarray) -> float:
    num_classes = logits.shape[1]
    return float(per_class_scores(confusion(y, logits.argmax(axis=1), num_classes))[2].mean())


class ThresholdMoving:
    """Threshold moving (Zhou and Liu 2006) with thresholds tuned on validation logits.

    Binary tasks: the decision threshold on the positive class's log-odds that maximises its F1 on
    validation (exactly, over every distinct cut). Multi-class tasks: per-class logit offsets b
    (b_0 = 0) chosen by coordinate ascent on validation macro-F1, each class's offset tried at
    ``candidates`` quantiles of the margins where its decisions change, for ``sweeps`` passes.
    ``adjust`` adds the offsets to the logits, so argmax applies the tuned thresholds.
    """

    def __init__(self, sweeps: int = 3, candidates: int = 64):
        self.sweeps, self.candidates = sweeps, candidates
        self.offsets: np.ndarray | None = None

    def fitted(self) -> dict[str, list[float]]:
        """The per-class logit offsets fit chose on validation, stored with the seed's row."""
        return {"offsets": [round(float(o), 4) for o in self.offsets]} if self.offsets is not None else {}

    def fit(self, val_logits: np.ndarray, val_y: np.ndarray, train_counts: Sequence[int]) -> None:
        logits, y = np.asarray(val_logits, dtype=np.float64), np.asarray(val_y)
        num_classes = logits.shape[1]
        offsets = np.zeros(num_classes)
        if num_classes == 2:
            if (y == 1).any():
                offsets[1] = -binary_f1_threshold(logits[:, 1] - logits[:, 0], y)
            self.offsets = offsets
            return
        best = macro_f1(logits, y)
        for _ in range(self.sweeps):
            improved = False
            for c in range(1, num_classes):
                shifted = logits + offsets
                others = np.delete(shifted, c, axis=1).max(axis=1)
                margin = others - logits[:, c]  # class c wins iff its offset exceeds this margin
                trial_offsets = np.unique(np.quantile(margin, np.linspace(0, 1, self.candidates)) + 1e-6)
                for value in trial_offsets:
                    candidate = offsets.copy()
                    candidate[c] = value
                    score = macro_f1(logits + candidate, y)
                    if score > best + 1e-12:
                        best, offsets, improved = score, candidate, True
            if not improved:
                break
        self.offsets = offsets

    def adjust(self, logits: np.ndarray) -> np.ndarray:
        if self.offsets is None:
            raise BenchmarkError("threshold moving was asked to adjust logits before it was fitted",
                                 "the engine must call fit(val_logits, val_y, train_counts) first")
        return logits + self.offsets


class PosthocLogitAdjustment:
    """Post-hoc logit adjustment (Menon et al. 2021, eq. 7): argmax of z - tau * log pi, with pi the
    training class prior; tau = 1 targets the balanced error."""

    def __init__(self, class_counts: Sequence[int], tau: float = 1.0):
        self.shift = tau * log_prior(class_counts)

    def adjust(self, logits: np.ndarray) -> np.ndarray:
        return logits - self.shift


@register_method(
    "threshold-moving",
    family="post-hoc",
    modalities=ALL_MODALITIES,
    engines=BOTH_ENGINES,
    summary="Train as usual, then move the decision threshold (binary) or per-class offsets (multi-class) to "
            "maximise F1 on validation.",
    paper=THRESHOLD_MOVING_BIB,
    differences="The paper moves thresholds by misclassification costs; here they maximise validation F1 "
                "(positive-class F1 for binary tasks, macro-F1 otherwise), the benchmark's headline measure.",
)
def threshold_moving(params: dict, ctx: MethodContext) -> Recipe:
    """Threshold moving (Zhou and Liu 2006), tuned on validation logits."""
    return Recipe(adjust=ThresholdMoving())


@register_method(
    "posthoc-logit-adjustment",
    family="post-hoc",
    modalities=ALL_MODALITIES,
    engines=BOTH_ENGINES,
    summary="Train as usual, then subtract tau times the log class prior from the logits at prediction.",
    paper=LOGIT_ADJUSTMENT_BIB,
    search_space=lambda trial, ctx: {"tau": trial.suggest_float("tau", 0.25, 2.0)},
)
def posthoc_logit_adjustment(params: dict, ctx: MethodContext) -> Recipe:
    """Post-hoc logit adjustment (Menon et al. 2021) with tuned tau (default 1)."""
    return Recipe(adjust=PosthocLogitAdjustment(ctx.class_counts, params.get("tau", 1.0)))
