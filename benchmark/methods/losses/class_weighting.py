"""Class re-weighting losses (the ``loss`` hook), with ``class_weight`` for the classical engine.

The weightings :func:`inverse_frequency_weights`, :func:`effective_number_weights` and
:func:`binary_alpha` multiply each class's term of the cross-entropy; the classical engine gets the
same weights as its models' ``class_weight``. Losses that weight each example by how hard it is
(focal, GHM-C) are in :mod:`.example_weighting`, deferred re-weighting in
:mod:`.deferred_reweighting`, margin and logit-adjusting losses in :mod:`.margin`. The baseline row
is plain cross-entropy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import CB_BIB, CLASS_WEIGHT_BIB, FOCAL_BIB
from benchmark.methods.base import ALL_MODALITIES, MethodContext, Recipe, register_method
from benchmark.methods.losses._cross_entropy import as_soft, on_device, soft_cross_entropy
from benchmark.methods.losses.example_weighting import FocalLoss

BETAS = (0.9, 0.99, 0.999, 0.9999)  # the grid of Cui et al. (2019)


def _counts(class_counts: Sequence[int]) -> np.ndarray:
    return np.maximum(np.asarray(class_counts, dtype=np.float64), 1.0)  # an empty class counts as one


def inverse_frequency_weights(class_counts: Sequence[int]) -> np.ndarray:
    """w_c = N / (C * n_c): the weights scikit-learn calls ``class_weight="balanced"`` (mean 1 over samples)."""
    counts = _counts(class_counts)
    return counts.sum() / (len(counts) * counts)


def effective_number_weights(class_counts: Sequence[int], beta: float) -> np.ndarray:
    """Cui et al. (2019): w_c proportional to (1 - beta) / (1 - beta^n_c), the inverse effective number
    of samples, normalised to sum to C. beta = 0 gives equal weights, beta -> 1 inverse frequency."""
    if not 0.0 <= beta < 1.0:
        raise BenchmarkError(f"effective-number beta={beta} is invalid", "use 0 <= beta < 1 (e.g. 0.999)")
    counts = _counts(class_counts)
    weights = (1.0 - beta) / (1.0 - np.power(beta, counts))
    return weights / weights.sum() * len(counts)


def binary_alpha(class_counts: Sequence[int]) -> float:
    """The normalised alpha of the binary weighted loss: the positive class's weight n_neg / N (the
    negative class gets 1 - alpha = n_pos / N), i.e. inverse frequencies scaled to sum to one."""
    if len(class_counts) != 2:
        raise BenchmarkError(f"binary_alpha needs two classes, got {len(class_counts)}", "use class weights instead")
    counts = _counts(class_counts)
    return float(counts[0] / counts.sum())


class WeightedCrossEntropy:
    """Cross-entropy with per-class weights w: the per-sample loss -sum_c t_c w_c log p_c, reduced over
    the batch by ``reduction``:

    - ``"weighted_mean"``: divided by the summed weights of the targets, sum_i sum_c t_ic w_c (what
      ``torch.nn.CrossEntropyLoss(weight=...)`` does; the loss of a batch then does not scale with
      how many rare-class samples it holds);
    - ``"mean"``: divided by the batch size, the mean of the weighted per-sample losses (the
      class-balanced loss's reference code: ``tf.losses.softmax_cross_entropy`` with per-sample
      weights, whose default reduction divides by the number of non-zero weights).
    """

    graph_safe = True
    REDUCTIONS = ("weighted_mean", "mean")

    def __init__(self, weights: Sequence[float], reduction: str = "weighted_mean"):
        if reduction not in self.REDUCTIONS:
            raise BenchmarkError(f"weighted cross-entropy reduction {reduction!r} is unknown",
                                 f"use one of {self.REDUCTIONS}")
        self.weights = torch.as_tensor(np.asarray(weights), dtype=torch.float32)
        self.reduction = reduction

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        weights = on_device(self, "weights", logits.device)
        if self.reduction == "weighted_mean":
            return soft_cross_entropy(logits, target, weights)
        soft = as_soft(target, logits.shape[1])
        return -(soft * weights * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


class AlphaBalancedCrossEntropy:
    """The binary alpha-balanced cross-entropy -alpha_t log p_t (Lin et al. 2017, eq. 3), a plain mean
    over the batch: focal loss with gamma = 0."""

    graph_safe = True

    def __init__(self, alpha: float):
        if not 0.0 < alpha < 1.0:
            raise BenchmarkError(f"alpha={alpha} is invalid", "use 0 < alpha < 1 (the positive class's weight)")
        self.weights = torch.tensor([1.0 - alpha, alpha])

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        soft = as_soft(target, logits.shape[1])
        log_p = F.log_softmax(logits.float(), dim=1)
        return -(soft * on_device(self, "weights", logits.device) * log_p).sum(dim=1).mean()


class BinaryCrossEntropyPosWeight:
    """``BCEWithLogitsLoss`` with ``pos_weight`` on the log-odds z_1 - z_0 of a two-logit head (the
    softmax of two logits is the sigmoid of their difference, so predictions stay consistent)."""

    graph_safe = True

    def __init__(self, pos_weight: float):
        if pos_weight <= 0:
            raise BenchmarkError(f"pos_weight={pos_weight} is invalid", "use a positive weight (n_neg / n_pos balances)")
        self.pos_weight = torch.tensor(float(pos_weight))

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        if logits.shape[1] != 2:
            raise BenchmarkError(f"the binary loss got {logits.shape[1]} logits per sample", "use it on binary tasks")
        soft = as_soft(target, 2)
        log_odds = logits[:, 1].float() - logits[:, 0].float()
        return F.binary_cross_entropy_with_logits(log_odds, soft[:, 1], pos_weight=on_device(self, "pos_weight", logits.device))


def binary_only(split) -> str | None:
    if split.num_classes != 2:
        return f"this loss is defined for binary tasks; {split.dataset} has {split.num_classes} classes"
    return None


# -- rows ---------------------------------------------------------------------------------------------
@register_method(
    "class-weighted-ce",
    family="loss",
    modalities=ALL_MODALITIES,
    engines=("deep", "classical"),
    summary="Cross-entropy weighted by inverse class frequency (class_weight='balanced' for classical models).",
    paper=CLASS_WEIGHT_BIB,
    differences="Deep models use torch.nn.CrossEntropyLoss(weight=w): each batch's loss is divided by its "
                "targets' summed weights (scikit-learn's class_weight multiplies each sample's loss instead).",
)
def class_weighted_ce(params: dict, ctx: MethodContext) -> Recipe:
    """Inverse-frequency class weights: w_c = N / (C n_c)."""
    weights = inverse_frequency_weights(ctx.class_counts)
    if ctx.engine == "classical":
        return Recipe(class_weight=weights)
    return Recipe(loss=WeightedCrossEntropy(weights))


@register_method(
    "alpha-balanced-ce",
    family="loss",
    modalities=ALL_MODALITIES,
    engines=("deep", "classical"),
    summary="Binary cross-entropy with the positive class weighted alpha and the negative 1 - alpha (tuned "
            "around the normalised inverse frequency n_neg / N).",
    paper=FOCAL_BIB,
    search_space=lambda trial, ctx: {"alpha": trial.suggest_float(
        "alpha", 0.5, max(0.51, min(0.999, binary_alpha(ctx.class_counts) + 0.05)))},
    applies_to=binary_only,
    neutral_params={"alpha": 0.5},  # both classes weighted alike: cross-entropy (halved)
)
def alpha_balanced_ce(params: dict, ctx: MethodContext) -> Recipe:
    """Alpha-balanced cross-entropy (Lin et al. 2017, eq. 3); classical models get class_weight
    {0: 1 - alpha, 1: alpha}."""
    alpha = params.get("alpha", binary_alpha(ctx.class_counts))
    if ctx.engine == "classical":
        return Recipe(class_weight=np.array([1.0 - alpha, alpha]))
    return Recipe(loss=AlphaBalancedCrossEntropy(alpha))


@register_method(
    "bce-pos-weight",
    family="loss",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Binary cross-entropy with logits, the positive term weighted by pos_weight (n_neg / n_pos balances).",
    paper=CLASS_WEIGHT_BIB,
    search_space=lambda trial, ctx: {"pos_weight": trial.suggest_float(
        "pos_weight", 1.0, max(1.5, 2.0 * ctx.class_counts[0] / max(ctx.class_counts[1], 1)), log=True)},
    applies_to=binary_only,
    neutral_params={"pos_weight": 1.0},
)
def bce_pos_weight(params: dict, ctx: MethodContext) -> Recipe:
    """``torch.nn.BCEWithLogitsLoss(pos_weight=...)`` on the two-logit head's log-odds."""
    default = ctx.class_counts[0] / max(ctx.class_counts[1], 1)
    return Recipe(loss=BinaryCrossEntropyPosWeight(params.get("pos_weight", default)))


def class_balanced_space(trial, ctx: MethodContext) -> dict:
    params = {"beta": trial.suggest_categorical("beta", list(BETAS))}
    if ctx.engine == "deep":
        params["loss_type"] = trial.suggest_categorical("loss_type", ["softmax", "focal"])
        if params["loss_type"] == "focal":
            params["gamma"] = trial.suggest_float("gamma", 0.5, 2.0)
    return params


@register_method(
    "class-balanced-loss",
    family="loss",
    modalities=ALL_MODALITIES,
    engines=("deep", "classical"),
    summary="Weights each class by the inverse of its effective number of samples (1 - beta^n) / (1 - beta).",
    paper=CB_BIB,
    search_space=class_balanced_space,
    neutral_params={"gamma": 0.0},  # the focal variant at gamma 0; equal counts give equal weights
    differences="The sigmoid form of the paper is not offered; softmax cross-entropy and softmax focal loss are "
                "(classical models get the weights as class_weight). Both deep variants reduce a batch as the "
                "authors' code does: the mean of the weighted per-sample losses (weights sum to the number of "
                "classes), not torch's division by the targets' summed weights; soft (mixed) targets weight "
                "each class's term by its own class weight.",
)
def class_balanced_loss(params: dict, ctx: MethodContext) -> Recipe:
    """Class-balanced loss (Cui et al. 2019) with tuned beta over their grid, softmax or focal."""
    weights = effective_number_weights(ctx.class_counts, params.get("beta", 0.999))
    if ctx.engine == "classical":
        return Recipe(class_weight=weights)
    if params.get("loss_type", "softmax") == "focal":
        return Recipe(loss=FocalLoss(params.get("gamma", 1.0), weights=weights))  # a plain mean over the batch
    return Recipe(loss=WeightedCrossEntropy(weights, reduction="mean"))
