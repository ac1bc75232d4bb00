"""Label-distribution-aware losses that shift logits by class (the ``loss`` hook).

LDAM subtracts a per-class margin proportional to n_c^(-1/4) from the true class's logit; balanced
softmax and the logit-adjusted loss add (tau times) the log class prior to every logit before the
softmax, so rare classes need larger logits during training and the model's raw logits are
balanced at prediction. Soft labels from mixing augmentations are accepted: the margin of each class
is applied in proportion to its target mass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import BALANCED_SOFTMAX_BIB, LDAM_BIB, LOGIT_ADJUSTMENT_BIB
from benchmark.methods.base import ALL_MODALITIES, MethodContext, Recipe, register_method
from benchmark.methods.losses._cross_entropy import as_soft, on_device, soft_cross_entropy
from benchmark.methods.losses.deferred_reweighting import (
    DRW_DIFFERENCES,
    DRWSchedule,
    drw_schedule,
    drw_space,
)


def ldam_margins(class_counts: Sequence[int], max_margin: float = 0.5) -> np.ndarray:
    """Cao et al. (2019): Delta_c = K / n_c^(1/4), with K chosen so the largest margin (the rarest
    class) is ``max_margin``."""
    if max_margin <= 0:
        raise BenchmarkError(f"LDAM max_margin={max_margin} is invalid", "use a positive margin (the paper uses 0.5)")
    counts = np.maximum(np.asarray(class_counts, dtype=np.float64), 1.0)
    raw = counts ** -0.25
    return raw * (max_margin / raw.max())


def log_prior(class_counts: Sequence[int]) -> np.ndarray:
    """log pi_c of the training label distribution (an empty class counts as one sample)."""
    counts = np.maximum(np.asarray(class_counts, dtype=np.float64), 1.0)
    return np.log(counts / counts.sum())


class LDAMLoss:
    """LDAM: cross-entropy on s * (z - Delta * t), with per-class margins Delta (see :func:`ldam_margins`)
    and scale s; optionally re-weighted by a :class:`DRWSchedule` (LDAM-DRW)."""

    graph_safe = True

    def __init__(self, margins: Sequence[float], scale: float, schedule: DRWSchedule | None = None):
        if scale <= 0:
            raise BenchmarkError(f"LDAM scale s={scale} is invalid", "use a positive scale (the paper uses 30)")
        self.margins = torch.as_tensor(np.asarray(margins), dtype=torch.float32)
        self.scale, self.schedule = float(scale), schedule

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        soft = as_soft(target, logits.shape[1])
        shifted = logits.float() - soft * on_device(self, "margins", logits.device)
        weights = self.schedule.weights(epoch, logits.device) if self.schedule is not None else None
        return soft_cross_entropy(self.scale * shifted, soft, weights)


class LogitAdjustedLoss:
    """Cross-entropy on z + tau * log pi (Menon et al. 2021); tau = 1 is balanced softmax (Ren et al. 2020)."""

    graph_safe = True

    def __init__(self, class_counts: Sequence[int], tau: float = 1.0):
        self.shift = torch.as_tensor(tau * log_prior(class_counts), dtype=torch.float32)

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        return soft_cross_entropy(logits.float() + on_device(self, "shift", logits.device), target)


LDAM_DIFFERENCES = ("The paper's networks normalise the last layer's features and weights before the scale s = 30; "
                    "the benchmark's backbones keep a plain linear head, so s is tuned from 1 to 30.")


def ldam_space(trial, ctx: MethodContext) -> dict:
    return {"max_margin": trial.suggest_float("max_margin", 0.1, 1.0),
            "scale": trial.suggest_float("scale", 1.0, 30.0, log=True)}


@register_method(
    "ldam",
    family="loss",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Label-distribution-aware margin loss: rarer classes get larger margins, Delta_c proportional to n_c^(-1/4).",
    paper=LDAM_BIB,
    search_space=ldam_space,
    neutral_params={"max_margin": 1e-12, "scale": 1.0},
    differences=LDAM_DIFFERENCES,
)
def ldam(params: dict, ctx: MethodContext) -> Recipe:
    """LDAM loss (Cao et al. 2019) without re-weighting."""
    return Recipe(loss=LDAMLoss(ldam_margins(ctx.class_counts, params.get("max_margin", 0.5)), params.get("scale", 30.0)))


@register_method(
    "ldam-drw",
    family="loss",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="LDAM loss, re-weighted by effective-number class weights from a tuned epoch on (deferred re-weighting).",
    paper=LDAM_BIB,
    search_space=lambda trial, ctx: {**ldam_space(trial, ctx), **drw_space(trial, ctx)},
    neutral_params={"max_margin": 1e-12, "scale": 1.0},
    differences=LDAM_DIFFERENCES + " " + DRW_DIFFERENCES,
)
def ldam_drw(params: dict, ctx: MethodContext) -> Recipe:
    """LDAM-DRW (Cao et al. 2019), the paper's best combination."""
    margins = ldam_margins(ctx.class_counts, params.get("max_margin", 0.5))
    return Recipe(loss=LDAMLoss(margins, params.get("scale", 30.0), drw_schedule(params, ctx)))


@register_method(
    "balanced-softmax",
    family="loss",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Cross-entropy on logits plus the log class prior, an unbiased estimate of the balanced softmax.",
    paper=BALANCED_SOFTMAX_BIB,
    differences="The paper's Meta Sampler (a meta-learned re-sampling of the training batches, used with "
                "balanced softmax for its best results) is left out: this row is the loss alone, on the "
                "suite's plain batches.",
)
def balanced_softmax(params: dict, ctx: MethodContext) -> Recipe:
    """Balanced softmax (Ren et al. 2020): CE(z + log n_c); the meta sampler of the paper is not included."""
    return Recipe(loss=LogitAdjustedLoss(ctx.class_counts, tau=1.0))


@register_method(
    "logit-adjusted-loss",
    family="loss",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Cross-entropy on logits plus tau times the log class prior (tau tuned; tau = 1 is balanced softmax).",
    paper=LOGIT_ADJUSTMENT_BIB,
    search_space=lambda trial, ctx: {"tau": trial.suggest_float("tau", 0.25, 2.0)},
)
def logit_adjusted_loss(params: dict, ctx: MethodContext) -> Recipe:
    """Logit-adjusted loss (Menon et al. 2021, eq. 11) with tuned tau (default 1)."""
    return Recipe(loss=LogitAdjustedLoss(ctx.class_counts, tau=params.get("tau", 1.0)))
