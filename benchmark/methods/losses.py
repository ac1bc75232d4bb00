"""Re-weighting losses (the ``loss`` hook), with ``class_weight`` for the classical engine.

Every loss takes ``(logits, target, epoch)``; ``target`` is class indices (B,) or soft labels (B, C)
from mixing augmentations, and every loss here accepts both. Losses built only from tensor
operations declare ``graph_safe = True`` so the deep engine may replay them in CUDA graphs.

Components others build on: :func:`soft_cross_entropy` and :func:`kl_divergence` (mixed labels),
the weightings :func:`inverse_frequency_weights`, :func:`effective_number_weights` and
:func:`binary_alpha`, and :class:`DRWSchedule` (deferred re-weighting, used by LDAM-DRW and Remix-DRW).
Margin and logit-adjusting losses (LDAM, balanced softmax, logit-adjusted loss) live in
:mod:`benchmark.methods.margin_losses`. The baseline row is plain cross-entropy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.errors import BenchmarkError
from benchmark.methods.base import MethodContext, Recipe, register_method

ALL_MODALITIES = ("image", "text", "tabular")
BETAS = (0.9, 0.99, 0.999, 0.9999)  # the grid of Cui et al. (2019)


# -- targets and the cross-entropy family -------------------------------------------------------------
def as_soft(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices -> one-hot rows; soft labels pass through."""
    if target.dtype in (torch.long, torch.int64, torch.int32):
        return F.one_hot(target.long(), num_classes).float()
    return target.float()


def on_device(holder: object, name: str, device: torch.device) -> torch.Tensor:
    """A loss's constant tensor ``holder.<name>``, moved to ``device`` once and kept there: the first
    (eager, warm-up) step copies it, so steps replayed as CUDA graphs copy nothing from the host."""
    tensor = getattr(holder, name)
    if tensor.device != device:
        tensor = tensor.to(device)
        setattr(holder, name, tensor)
    return tensor


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """-sum_c t_c w_c log softmax(z)_c per sample, averaged over the batch; with class weights the
    average is normalised by the summed weights of the targets (as ``torch.nn.CrossEntropyLoss``)."""
    soft = as_soft(target, logits.shape[1])
    log_p = F.log_softmax(logits.float(), dim=1)
    if weights is None:
        return -(soft * log_p).sum(dim=1).mean()
    w = weights.to(logits.device)
    return -(soft * w * log_p).sum() / (soft * w).sum().clamp_min(1e-12)


def kl_divergence(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """KL(t || softmax(z)) averaged over the batch: cross-entropy minus the targets' entropy (same
    gradient, but 0 at a perfect fit, which makes mixed-label losses comparable across batches)."""
    soft = as_soft(target, logits.shape[1])
    log_p = F.log_softmax(logits.float(), dim=1)
    return (torch.xlogy(soft, soft) - soft * log_p).sum(dim=1).mean()


class SoftLabelCrossEntropy:
    """Cross-entropy on soft labels (for MixUp-style augmentations); equals CE on hard labels."""

    graph_safe = True

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        return soft_cross_entropy(logits, target)


class SoftLabelKL:
    """KL divergence to soft labels (for MixUp-style augmentations)."""

    graph_safe = True

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        return kl_divergence(logits, target)


# -- class weightings ---------------------------------------------------------------------------------
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
    """Cross-entropy with per-class weights w: -sum_c t_c w_c log p_c, averaged over the batch
    (normalised by the summed weights of the targets, as ``torch.nn.CrossEntropyLoss`` does)."""

    graph_safe = True

    def __init__(self, weights: Sequence[float]):
        self.weights = torch.as_tensor(np.asarray(weights), dtype=torch.float32)

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        return soft_cross_entropy(logits, target, on_device(self, "weights", logits.device))


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


class FocalLoss:
    """Focal loss (Lin et al. 2017) on softmax probabilities: -alpha_t (1 - p_t)^gamma log p_t.

    Binary tasks weight the positive class by ``alpha`` and the negative by ``1 - alpha``, as the
    paper does; multi-class tasks use no alpha (the paper defines alpha for the binary case), or the
    per-class ``weights`` given. Soft targets: -sum_c t_c alpha_c (1 - p_c)^gamma log p_c. Mean over the batch.
    """

    graph_safe = True

    def __init__(self, gamma: float = 2.0, alpha: float | None = None, num_classes: int = 2,
                 weights: Sequence[float] | None = None):
        self.gamma = gamma
        self.alpha = None
        if weights is not None:
            self.alpha = torch.as_tensor(np.asarray(weights), dtype=torch.float32)
        elif alpha is not None and num_classes == 2:
            self.alpha = torch.tensor([1.0 - alpha, alpha])

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=1)
        soft = as_soft(target, logits.shape[1])
        modulating = (1.0 - log_p.exp()).clamp_min(0.0).pow(self.gamma)
        per_class = -soft * modulating * log_p
        if self.alpha is not None:
            per_class = per_class * on_device(self, "alpha", logits.device)
        return per_class.sum(dim=1).mean()


class GHMClassificationLoss:
    """GHM-C (Li et al. 2019): cross-entropy re-weighted by the inverse density of gradient norms.

    The gradient norm of a sample is g = ||softmax(z) - t||_1 / 2 in [0, 1] (1 - p_t for hard labels;
    the paper's |p - p*| for one sigmoid). [0, 1] is cut into ``bins`` equal bins; R_b counts the
    batch's samples in bin b, smoothed over batches by an exponential moving average with
    ``momentum`` (the paper's alpha). A sample in bin b gets beta = N / (R_b * M) with M the number of
    non-empty bins, so easy (and outlier) samples that crowd one bin are down-weighted, and the mean
    weight is 1. The loss is (1/N) sum_i beta_i CE_i.
    """

    graph_safe = False  # keeps a running histogram across batches

    def __init__(self, bins: int = 10, momentum: float = 0.75):
        if bins < 1 or not 0.0 <= momentum < 1.0:
            raise BenchmarkError(f"GHM-C got bins={bins}, momentum={momentum}", "use bins >= 1 and 0 <= momentum < 1")
        self.bins, self.momentum = bins, momentum
        self.running: torch.Tensor | None = None

    def weights(self, g: torch.Tensor) -> torch.Tensor:
        """Per-sample weights beta for gradient norms ``g`` (updates the running histogram)."""
        idx = (g.detach().clamp(0.0, 1.0) * self.bins).long().clamp_max(self.bins - 1)
        counts = torch.bincount(idx, minlength=self.bins).float()
        if self.momentum > 0 and self.running is not None:
            # The moving average starts at the first batch's histogram, so early batches are not inflated.
            self.running = self.momentum * self.running.to(counts.device) + (1.0 - self.momentum) * counts
        else:
            self.running = counts
        density = self.running
        nonempty = (counts > 0).sum().clamp_min(1)
        return g.numel() / (density[idx].clamp_min(1e-12) * nonempty)

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        soft = as_soft(target, logits.shape[1])
        log_p = F.log_softmax(logits.float(), dim=1)
        g = 0.5 * (log_p.exp() - soft).abs().sum(dim=1)
        beta = self.weights(g).detach()
        return (beta * -(soft * log_p).sum(dim=1)).mean()


# -- deferred re-weighting ----------------------------------------------------------------------------
def drw_start_epoch(fraction: float, epochs: int) -> int:
    """The epoch re-weighting starts: ``fraction`` of the budget, leaving at least one epoch on each side."""
    if epochs < 2:
        return 0
    return int(min(epochs - 1, max(1, round(fraction * epochs))))


class DRWSchedule:
    """Deferred re-weighting (Cao et al. 2019): no class weights before ``start_epoch``, then the
    effective-number weights of ``beta`` (Cui et al. 2019). ``weights(epoch)`` is None or a (C,) tensor."""

    def __init__(self, class_counts: Sequence[int], start_epoch: int, beta: float = 0.9999):
        self.start_epoch = int(start_epoch)
        self.class_weights = torch.as_tensor(effective_number_weights(class_counts, beta), dtype=torch.float32)

    def weights(self, epoch: int, device: torch.device | None = None) -> torch.Tensor | None:
        if epoch < self.start_epoch:
            return None
        return self.class_weights if device is None else on_device(self, "class_weights", device)


def drw_space(trial, ctx: MethodContext) -> dict:
    """The DRW switch (a fraction of the epochs; the paper switches at 160 of 200) and beta."""
    return {"drw_start": trial.suggest_float("drw_start", 0.5, 0.9),
            "drw_beta": trial.suggest_categorical("drw_beta", list(BETAS))}


def drw_schedule(params: dict, ctx: MethodContext) -> DRWSchedule:
    return DRWSchedule(ctx.class_counts, drw_start_epoch(params.get("drw_start", 0.8), ctx.epochs),
                       params.get("drw_beta", 0.9999))


class DeferredReweightedCrossEntropy:
    """Cross-entropy, re-weighted by a :class:`DRWSchedule` from its start epoch on."""

    graph_safe = True  # the epoch is a Python number: the engine captures each epoch anew

    def __init__(self, schedule: DRWSchedule):
        self.schedule = schedule

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        return soft_cross_entropy(logits, target, self.schedule.weights(epoch, logits.device))


# -- papers -------------------------------------------------------------------------------------------
CLASS_WEIGHT_BIB = """@article{king2001logistic,
  title={Logistic Regression in Rare Events Data},
  author={King, Gary and Zeng, Langche},
  journal={Political Analysis}, volume={9}, number={2}, pages={137--163}, year={2001}}"""

FOCAL_BIB = """@inproceedings{lin2017focal,
  title={Focal Loss for Dense Object Detection},
  author={Lin, Tsung-Yi and Goyal, Priya and Girshick, Ross and He, Kaiming and Doll{\\'a}r, Piotr},
  booktitle={Proceedings of the IEEE International Conference on Computer Vision (ICCV)},
  pages={2980--2988}, year={2017}}"""

CB_BIB = """@inproceedings{cui2019class,
  title={Class-Balanced Loss Based on Effective Number of Samples},
  author={Cui, Yin and Jia, Menglin and Lin, Tsung-Yi and Song, Yang and Belongie, Serge},
  booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages={9268--9277}, year={2019}}"""

GHM_BIB = """@inproceedings{li2019gradient,
  title={Gradient Harmonized Single-Stage Detector},
  author={Li, Buyu and Liu, Yu and Wang, Xiaogang},
  booktitle={Proceedings of the AAAI Conference on Artificial Intelligence}, volume={33}, pages={8577--8584},
  year={2019}}"""

LDAM_BIB = """@inproceedings{cao2019learning,
  title={Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss},
  author={Cao, Kaidi and Wei, Colin and Gaidon, Adrien and Arechiga, Nikos and Ma, Tengyu},
  booktitle={Advances in Neural Information Processing Systems (NeurIPS)}, volume={32}, year={2019}}"""


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
    differences="The sigmoid form of the paper is not offered; softmax cross-entropy and softmax focal loss are "
                "(classical models get the weights as class_weight).",
)
def class_balanced_loss(params: dict, ctx: MethodContext) -> Recipe:
    """Class-balanced loss (Cui et al. 2019) with tuned beta over their grid, softmax or focal."""
    weights = effective_number_weights(ctx.class_counts, params.get("beta", 0.999))
    if ctx.engine == "classical":
        return Recipe(class_weight=weights)
    if params.get("loss_type", "softmax") == "focal":
        return Recipe(loss=FocalLoss(params.get("gamma", 1.0), weights=weights))
    return Recipe(loss=WeightedCrossEntropy(weights))


def focal_space(trial, ctx: MethodContext) -> dict:
    params = {"gamma": trial.suggest_float("gamma", 0.5, 5.0)}
    if ctx.num_classes == 2:
        params["alpha"] = trial.suggest_float("alpha", 0.1, 0.9)
    return params


@register_method(
    "focal-loss",
    family="loss",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Down-weights well-classified samples by (1 - p_t)^gamma so training focuses on hard ones.",
    paper=FOCAL_BIB,
    search_space=focal_space,
    differences="Softmax form for all tasks (the paper uses per-class sigmoids); alpha only for binary tasks.",
)
def focal_loss(params: dict, ctx: MethodContext) -> Recipe:
    """Focal loss with tuned gamma (default 2) and, for binary tasks, alpha (default 0.25)."""
    return Recipe(loss=FocalLoss(params.get("gamma", 2.0), params.get("alpha", 0.25), ctx.num_classes))


@register_method(
    "ghm-c",
    family="loss",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Gradient harmonizing: down-weights the crowded gradient-norm bins (very easy and very hard samples).",
    paper=GHM_BIB,
    search_space=lambda trial, ctx: {"bins": trial.suggest_int("bins", 5, 30),
                                     "momentum": trial.suggest_float("momentum", 0.0, 0.9)},
    differences="Softmax form with g = ||p - t||_1 / 2 (the paper uses per-class sigmoids); weights are normalised "
                "by the number of non-empty bins, as in the authors' code.",
)
def ghm_c(params: dict, ctx: MethodContext) -> Recipe:
    """GHM-C loss (Li et al. 2019) with tuned bins (default 10) and momentum (default 0.75)."""
    return Recipe(loss=GHMClassificationLoss(params.get("bins", 10), params.get("momentum", 0.75)))


@register_method(
    "drw",
    family="loss",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Deferred re-weighting: plain cross-entropy first, class-balanced weights from a tuned epoch on.",
    paper=LDAM_BIB,
    search_space=drw_space,
)
def drw(params: dict, ctx: MethodContext) -> Recipe:
    """DRW with cross-entropy (Cao et al. 2019, the CE-DRW rows of their tables)."""
    return Recipe(loss=DeferredReweightedCrossEntropy(drw_schedule(params, ctx)))
