"""FixMatch with distribution alignment (``fixmatch-da``): consistency on an unlabeled pool, for imbalance.

FixMatch (Sohn et al. 2020) trains on a labelled batch with cross-entropy and on a batch of unlabeled
rows by consistency: the model's prediction on a weakly augmented view of each row becomes a hard
pseudo-label when its confidence reaches a threshold tau, and the prediction on a strongly augmented
view of the same row is trained towards it, weighted by lambda_u. On imbalanced data the pseudo-labels
lean further to the head classes than the data do (the model's bias feeds itself); distribution
alignment (ReMixMatch, Berthelot et al. 2020) corrects the weak predictions q before thresholding:
q <- normalise(q * p_target / p_model), p_model the running mean of the model's weak predictions on
the pool (the last 128 batches, as ReMixMatch's PMovingAverage: its buffer starts as 128 uniform entries,
and a batch's alignment reads it before the batch is added), p_target the labelled class distribution. This is the
"FixMatch w/ DA" baseline of the imbalanced semi-supervised literature (Kim et al. 2020, DARP; Wei et
al. 2021, CReST), with the labelled distribution as the target because the pool's is unknown.

One component sets both the ``augment`` and the ``loss`` hook: ``augment`` receives the engine's
labelled batch of B rows and returns B inputs, the weak views of the first B_l labelled rows, weak views
of B_u pool rows and strong views of the same B_u rows (B_l + 2 B_u = B, so a step costs the forward
passes of every other row's step), recording that layout; ``loss`` splits the logits by it. A loss
called on a batch the component did not lay out (no pool rows in it) is the cross-entropy of the batch.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import FIXMATCH_BIB, REMIXMATCH_BIB
from benchmark.methods.base import (
    UNLABELED_TAG,
    MethodContext,
    Recipe,
    register_method,
    unlabeled_pool_reason,
)
from benchmark.methods.semi_supervised._pool import PoolStream, as_unit_floats, device_pool
from benchmark.methods.semi_supervised._views import strong_view, weak_view

DA_HISTORY = 128  # batches in ReMixMatch's running mean of the model's predictions on unlabeled rows


def batch_layout(batch: int, mu: float) -> tuple[int, int]:
    """(B_l, B_u) with B_l + 2 B_u = ``batch`` and B_u / B_l as close to ``mu`` as whole rows allow
    (B_u rounded down, so at least one labelled row stays)."""
    if batch < 1 or not mu > 0:
        raise BenchmarkError(f"a FixMatch batch of {batch} rows with mu={mu}", "use a batch of 1 row or more and mu > 0")
    unlabeled = int(math.floor(mu * batch / (1 + 2 * mu)))
    return batch - 2 * unlabeled, unlabeled


def align_distribution(q: torch.Tensor, p_target: torch.Tensor, p_model: torch.Tensor) -> torch.Tensor:
    """ReMixMatch's distribution alignment: each row of ``q`` (N, C) times (1e-6 + p_target) / (1e-6 +
    p_model), renormalised (the epsilons as in the authors' guess_label)."""
    aligned = q * ((p_target + 1e-6) / (p_model + 1e-6)).unsqueeze(0)
    return aligned / aligned.sum(dim=1, keepdim=True).clamp_min(1e-12)


class FixMatchDA:
    """The ``augment`` and ``loss`` component of ``fixmatch-da``.

    Args:
        mu: unlabeled rows per labelled row in a step (FixMatch's mu; the paper uses 7 with a labelled
            batch of 64, on top of it; here within the suite's batch: see :func:`batch_layout`).
        threshold: the confidence tau a pseudo-label needs (the paper: 0.95).
        lambda_u: the weight of the unlabeled loss (the paper: 1).
        align: apply distribution alignment (the row always does; off only to measure its effect).
        history: batches in the running mean p_model.

    Not ``graph_safe``: the pool rows and the per-image operations are chosen with host-side branches.
    """

    graph_safe = False
    uses_unlabeled = True

    def __init__(self, mu: float = 1.0, threshold: float = 0.95, lambda_u: float = 1.0, align: bool = True,
                 history: int = DA_HISTORY):
        if not 0.0 < threshold <= 1.0 or lambda_u < 0 or history < 1:
            raise BenchmarkError(f"FixMatch got threshold={threshold}, lambda_u={lambda_u}, history={history}",
                                 "use 0 < threshold <= 1, lambda_u >= 0 and a history of 1 batch or more")
        batch_layout(3, mu)  # checks mu
        self.mu, self.threshold, self.lambda_u, self.align = float(mu), float(threshold), float(lambda_u), bool(align)
        self.history = int(history)
        self._stream = PoolStream()
        self._layout: tuple[int, int, int] | None = None  # (B, B_l, B_u) of the batch augment laid out last
        self._p_target: torch.Tensor | None = None
        self._p_history: torch.Tensor | None = None  # (history, C) mean weak predictions of recent batches
        self._seen = 0
        self.last_mask: torch.Tensor | None = None  # the last batch's confident pool rows (tests, diagnostics)
        self.last_pseudo_labels: torch.Tensor | None = None
        self.last_confidence: torch.Tensor | None = None  # the aligned max probability of each pool row

    # -- augment: lay the step's inputs out -----------------------------------------------------------------
    def augment(self, x: torch.Tensor, y: torch.Tensor, state: Any) -> tuple[torch.Tensor, torch.Tensor]:
        pool = device_pool(state, "fixmatch-da")
        if x.dim() != 4 or tuple(pool.shape[1:]) != tuple(x.shape[1:]):
            raise BenchmarkError(f"fixmatch-da got training images of shape {tuple(x.shape[1:])} and pool rows of "
                                 f"shape {tuple(pool.shape[1:])}", "use an image dataset whose pool holds images "
                                                                   "of the training images' shape")
        batch = x.shape[0]
        n_l, n_u = batch_layout(batch, self.mu)
        gen = state.generator
        if self._p_target is None:
            counts = state.class_counts.to(device=x.device, dtype=torch.float32)
            self._p_target = counts / counts.sum()
        rows = self._stream.take(n_u, pool.shape[0], gen, pool.device)
        u = as_unit_floats(pool[rows].to(x.device))
        inputs = torch.cat([weak_view(x[:n_l], gen), weak_view(u, gen), strong_view(u, gen)])
        self._layout = (batch, n_l, n_u)
        return inputs, y  # the first B_l labels are the labelled views'; the loss ignores the rest

    # -- loss: split the logits by that layout ---------------------------------------------------------------
    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        layout, self._layout = self._layout, None  # a layout applies to the one batch it was made for
        if layout is None or layout[2] == 0:
            return F.cross_entropy(logits, target if layout is None else target[: layout[1]])
        batch, n_l, n_u = layout
        if logits.shape[0] != batch:
            raise BenchmarkError(f"fixmatch-da laid out a batch of {batch} rows but the loss got {logits.shape[0]} "
                                 "logits", "call the loss on the logits of the batch its augment returned")
        supervised = F.cross_entropy(logits[:n_l], target[:n_l])
        weak, strong = logits[n_l : n_l + n_u], logits[n_l + n_u :]
        labels, mask = self.pseudo_labels(weak.detach())
        unsupervised = (F.cross_entropy(strong, labels, reduction="none") * mask).mean()
        return supervised + self.lambda_u * unsupervised

    def pseudo_labels(self, weak_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hard pseudo-labels of a batch of weak pool logits and the mask of confident ones (float 0/1);
        aligns with p_model as it stood before this batch, then adds the batch to it (ReMixMatch's order:
        its p_model update is a post-op of the training step)."""
        q = torch.softmax(weak_logits.float(), dim=1)
        if self.align:
            q = align_distribution(q, self._target(q), self._update_model_distribution(q))
        confidence, labels = q.max(dim=1)
        mask = (confidence >= self.threshold).float()
        self.last_mask, self.last_pseudo_labels, self.last_confidence = mask, labels, confidence
        return labels, mask

    def _target(self, q: torch.Tensor) -> torch.Tensor:
        if self._p_target is None or self._p_target.numel() != q.shape[1]:
            return torch.full((q.shape[1],), 1.0 / q.shape[1], device=q.device)
        return self._p_target.to(q.device)

    def _update_model_distribution(self, q: torch.Tensor) -> torch.Tensor:
        """p_model before this batch (the mean of the buffer, which starts as ``history`` uniform entries,
        as ReMixMatch's PMovingAverage), then the batch's mean prediction replaces the oldest entry."""
        if self._p_history is None or self._p_history.shape[1] != q.shape[1]:
            self._p_history = torch.full((self.history, q.shape[1]), 1.0 / q.shape[1], device=q.device)
            self._seen = 0
        p_model = self._p_history.mean(dim=0)
        self._p_history[self._seen % self.history] = q.mean(dim=0)
        self._seen += 1
        return p_model / p_model.sum()


def fixmatch_space(trial, ctx: MethodContext) -> dict:
    """tau around the paper's 0.95, lambda_u around its 1, mu (within the batch, see batch_layout) 1 to 3."""
    return {"threshold": trial.suggest_float("threshold", 0.7, 0.98),
            "lambda_u": trial.suggest_float("lambda_u", 0.25, 2.0, log=True),
            "mu": trial.suggest_int("mu", 1, 3)}


@register_method(
    "fixmatch-da",
    family="semi-supervised",
    modalities=("image",),
    engines=("deep",),
    summary="FixMatch on the dataset's unlabeled pool: confident pseudo-labels of weakly augmented pool images, "
            "distribution-aligned to the labelled class mix, train the strongly augmented views.",
    paper=FIXMATCH_BIB + "\n" + REMIXMATCH_BIB,
    search_space=fixmatch_space,
    applies_to=unlabeled_pool_reason,
    tags=(UNLABELED_TAG,),
    differences="Equal compute: a step's B forward passes (the suite's batch size, as every row's) hold B_l "
                "labelled weak views, B_u pool weak views and the same B_u rows' strong views, B_l + 2 B_u = B and "
                "B_u / B_l = mu (tuned 1 to 3; the paper adds 2 x 7 x 64 pool views to a labelled batch of 64), so "
                "of each batch the engine draws only the first B_l labelled rows are trained. Epochs, the learning-"
                "rate schedule and the optimiser are the suite's (the paper: SGD, 2^20 steps, EMA of the weights for "
                "evaluation; no EMA here). Weak = flip + shift of up to 12.5%; strong = that, then two operations "
                "per image from FixMatch's RandAugment list at random magnitudes (batched approximations: PIL's "
                "enhancement factors as jitter factors in [0.05, 1.95], sharpness as a light blur), then Cutout of "
                "half the side. Distribution alignment as ReMixMatch (mean weak prediction over the last 128 "
                "batches, a buffer that starts uniform, read before the batch is added) with the labelled training distribution as the target, applied before the threshold; "
                "pool rows are drawn in shuffled passes over the pool. tau is tuned in [0.7, 0.98] (paper 0.95), "
                "lambda_u in [0.25, 2] (paper 1).",
)
def fixmatch_da(params: dict, ctx: MethodContext) -> Recipe:
    """FixMatch (Sohn et al. 2020) with ReMixMatch's distribution alignment (Berthelot et al. 2020)."""
    component = FixMatchDA(mu=params.get("mu", 1), threshold=params.get("threshold", 0.95),
                           lambda_u=params.get("lambda_u", 1.0))
    return Recipe(augment=component, loss=component)
