"""Deferred re-weighting (DRW, Cao et al. 2019; the ``loss`` hook): plain cross-entropy first, class
weights by effective number from a tuned epoch on.

:class:`DRWSchedule` is shared: LDAM-DRW (:mod:`.margin`), Remix-DRW
(:mod:`benchmark.methods.augmentation.mixing`) and deferred re-sampling
(:mod:`benchmark.methods.resampling.batch_sampling`) switch at the same kind of epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from benchmark.methods._papers import LDAM_BIB
from benchmark.methods.base import ALL_MODALITIES, MethodContext, Recipe, register_method
from benchmark.methods.losses._cross_entropy import on_device, soft_cross_entropy
from benchmark.methods.losses.class_weighting import BETAS, effective_number_weights


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


DRW_DIFFERENCES = ("The re-weighting starts at a tuned fraction of the training (0.5 to 0.9; the paper: epoch 160 "
                   "of 200) with beta tuned over Cui et al.'s grid (the paper: 0.9999); weighted batches are "
                   "divided by their targets' summed weights, as torch's CrossEntropyLoss(weight=) in the "
                   "paper's code.")


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


@register_method(
    "drw",
    family="loss",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Deferred re-weighting: plain cross-entropy first, class-balanced weights from a tuned epoch on.",
    paper=LDAM_BIB,
    search_space=drw_space,
    differences=DRW_DIFFERENCES,
)
def drw(params: dict, ctx: MethodContext) -> Recipe:
    """DRW with cross-entropy (Cao et al. 2019, the CE-DRW rows of their tables)."""
    return Recipe(loss=DeferredReweightedCrossEntropy(drw_schedule(params, ctx)))
