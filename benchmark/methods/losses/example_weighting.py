"""Losses that weight each example by how hard it is (the ``loss`` hook): focal loss and GHM-C.

Both down-weight the many easy examples (well-classified ones, mostly of the majority classes) so
that training follows the hard ones; GHM-C also down-weights outliers. See :mod:`._cross_entropy`
for the target conventions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import FOCAL_BIB, GHM_BIB
from benchmark.methods.base import ALL_MODALITIES, MethodContext, Recipe, register_method
from benchmark.methods.losses._cross_entropy import as_soft, on_device


class FocalLoss:
    """Focal loss (Lin et al. 2017) on softmax probabilities: -alpha_t (1 - p_t)^gamma log p_t.

    Binary tasks weight the positive class by ``alpha`` and the negative by ``1 - alpha``, as the
    paper does; multi-class tasks use no alpha (the paper defines alpha for the binary case), or the
    per-class ``weights`` given. Soft targets: -sum_c t_c alpha_c (1 - p_c)^gamma log p_c. Mean over the batch.
    ``schedule`` (a :class:`~benchmark.methods.losses.deferred_reweighting.DRWSchedule`, set by the combined
    row ``focal-loss+drw``): from its start epoch its class weights replace alpha, as Cao et al.'s Focal-DRW.
    """

    graph_safe = True

    def __init__(self, gamma: float = 2.0, alpha: float | None = None, num_classes: int = 2,
                 weights: Sequence[float] | None = None):
        self.gamma = gamma
        self.schedule = None  # the slot deferred re-weighting fills (benchmark.methods._composition)
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
        deferred = self.schedule.weights(epoch, logits.device) if self.schedule is not None else None
        if deferred is not None:
            per_class = per_class * deferred
        elif self.alpha is not None:
            per_class = per_class * on_device(self, "alpha", logits.device)
        return per_class.sum(dim=1).mean()


class GHMClassificationLoss:
    """GHM-C (Li et al. 2019): cross-entropy re-weighted by the inverse density of gradient norms.

    The gradient norm of a sample is g = ||softmax(z) - t||_1 / 2 in [0, 1] (1 - p_t for hard labels;
    the paper's |p - p*| for one sigmoid). [0, 1] is cut into ``bins`` equal bins; R_b counts the
    batch's samples in bin b. With ``momentum`` (the paper's alpha) > 0, R_b is replaced by an
    exponential moving average over batches kept as the authors' code keeps it: it starts at zero,
    and only the bins the current batch fills are updated (S_b <- alpha S_b + (1 - alpha) R_b; an
    empty bin keeps its S_b). A sample in bin b gets beta = N / (S_b * M) (S_b = R_b without momentum),
    M the number of bins the batch fills, so easy (and outlier) samples that crowd one bin are
    down-weighted. Because S starts at zero, the first batches' weights are larger (1 / (1 - alpha)
    times for the first), as in the reference. The loss is (1/N) sum_i beta_i CE_i.
    """

    graph_safe = False  # keeps a running histogram across batches

    def __init__(self, bins: int = 10, momentum: float = 0.75):
        if bins < 1 or not 0.0 <= momentum < 1.0:
            raise BenchmarkError(f"GHM-C got bins={bins}, momentum={momentum}", "use bins >= 1 and 0 <= momentum < 1")
        self.bins, self.momentum = bins, momentum
        self.running = torch.zeros(bins)  # the reference's acc_sum: zero before the first batch

    def weights(self, g: torch.Tensor) -> torch.Tensor:
        """Per-sample weights beta for gradient norms ``g`` (updates the running histogram)."""
        idx = (g.detach().clamp(0.0, 1.0) * self.bins).long().clamp_max(self.bins - 1)
        counts = torch.bincount(idx, minlength=self.bins).float()
        filled = counts > 0
        if self.momentum > 0:
            running = on_device(self, "running", counts.device)
            self.running = torch.where(filled, self.momentum * running + (1.0 - self.momentum) * counts, running)
            density = self.running
        else:
            density = counts
        return g.numel() / (density[idx].clamp_min(1e-12) * filled.sum().clamp_min(1))

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        soft = as_soft(target, logits.shape[1])
        log_p = F.log_softmax(logits.float(), dim=1)
        g = 0.5 * (log_p.exp() - soft).abs().sum(dim=1)
        beta = self.weights(g).detach()
        return (beta * -(soft * log_p).sum(dim=1)).mean()


# -- rows ---------------------------------------------------------------------------------------------
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
    neutral_params={"gamma": 0.0, "alpha": 0.5},
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
    neutral_params={"bins": 1},  # one bin: every sample weighted alike
    differences="Softmax form with g = ||p - t||_1 / 2 (the paper uses per-class sigmoids); weights are normalised "
                "by the number of non-empty bins and the moving average starts at zero and updates only the "
                "bins a batch fills, as in the authors' code; bins are found as floor(g * bins) rather than by "
                "comparing with edges (the same bins up to rounding at an edge).",
)
def ghm_c(params: dict, ctx: MethodContext) -> Recipe:
    """GHM-C loss (Li et al. 2019) with tuned bins (default 10) and momentum (default 0.75)."""
    return Recipe(loss=GHMClassificationLoss(params.get("bins", 10), params.get("momentum", 0.75)))
