"""Two-stage training (the ``stages`` hook): train on one view of the training set, then re-balance.

Two-stage (two-phase) learning trains the whole network on a class-balanced training set first and
then fine-tunes only the last layer on the full, imbalanced data, so that the output layer is
re-calibrated to the true class frequencies (Lee et al. 2016; studied with random over- and
under-sampling by Buda et al. 2018). Deferred sampling runs the other way round: the network learns
its representation from the full data first and is re-balanced late (Cao et al. 2019's deferred
re-sampling), here with the re-balanced stage training either the head alone or the whole network.

The class-balanced training set of a stage is a fixed set of row indices drawn once per trial with
imbalanced-learn's ``RandomOverSampler`` or ``RandomUnderSampler`` (on the row indices, so no data is
copied) and shuffled on the device. The stage boundaries split the suite's epoch budget, and every
stage-epoch trains the same fixed number of samples as any other row's epoch (the original training
split's size, ``benchmark.training.epochs``): an under-sampled set (C x the smallest class) is
visited several times per epoch, an over-sampled one (C x the largest) partly, so every method
trains the same samples in all. :func:`two_stage_schedule` is the
representation-then-head schedule that the decoupling and EOS rows share.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import LDAM_BIB, TWO_PHASE_BIB
from benchmark.methods.base import ALL_MODALITIES, MethodContext, Recipe, Stage, register_method

BALANCING = ("over", "under")


class BalancedSubsetSampler:
    """Batch sampler over a class-balanced training set drawn once: ``"over"`` repeats random rows of
    every smaller class up to the largest class (random over-sampling), ``"under"`` keeps a random
    subset of every larger class down to the smallest (random under-sampling).

    The row indices come from imbalanced-learn's samplers (``sample_indices_``) seeded with the
    trial's seed, on the training labels the engine holds (``state.y``, after any ``resample`` hook);
    each draw is a fresh permutation of that fixed set, drawn with the trial's device generator (the
    engine draws again, or cuts the draw, to fill its fixed epoch).
    """

    def __init__(self, balancing: str = "over"):
        if balancing not in BALANCING:
            raise BenchmarkError(f"class-balanced set by {balancing!r} sampling is unknown",
                                 f"use one of {', '.join(BALANCING)}")
        self.balancing = balancing
        self._rows: torch.Tensor | None = None
        self._labels: torch.Tensor | None = None

    def balanced_rows(self, y: torch.Tensor, seed: int) -> torch.Tensor:
        """Indices into ``y`` of the class-balanced training set (drawn on the first call, then kept)."""
        if self._rows is not None and self._labels is y:  # the engine keeps one label tensor per trial
            return self._rows
        from imblearn.over_sampling import RandomOverSampler
        from imblearn.under_sampling import RandomUnderSampler

        labels = y.detach().cpu().numpy()
        if np.unique(labels).size < 2:
            raise BenchmarkError(f"a class-balanced training set needs two classes; the labels hold only "
                                 f"{np.unique(labels).tolist()}", "use a training split with several classes")
        make = RandomOverSampler if self.balancing == "over" else RandomUnderSampler
        sampler = make(sampling_strategy="auto", random_state=seed % 2**32)
        sampler.fit_resample(np.arange(labels.size).reshape(-1, 1), labels)
        self._rows = torch.as_tensor(sampler.sample_indices_, dtype=torch.long, device=y.device)
        self._labels = y
        return self._rows

    def batch_indices(self, epoch: int, state: Any) -> torch.Tensor:
        rows = self.balanced_rows(state.y, state.seed)
        return rows[torch.randperm(rows.numel(), generator=state.generator, device=rows.device)]


def two_stage_schedule(first: Stage, second: Stage, first_share: float) -> list[Stage]:
    """Two stages with ``first_share`` of the epoch budget in the first (the engine gives each at least one)."""
    if not 0.0 < first_share < 1.0:
        raise BenchmarkError(f"the first stage's share of the epochs is {first_share}", "use a share between 0 and 1")
    first.epochs, second.epochs = first_share, 1.0 - first_share
    return [first, second]


def stage_share(trial, name: str = "first_stage_share") -> float:
    """The share of the epoch budget spent in the first stage (the literature: 0.5 to 0.9)."""
    return trial.suggest_float(name, 0.5, 0.9)


# -- rows ------------------------------------------------------------------------------------------------
@register_method(
    "two-stage-learning",
    family="two-stage",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Train the whole network on a class-balanced training set (random over- or under-sampling, tuned), "
            "then fine-tune only the last layer on the full imbalanced data.",
    paper=TWO_PHASE_BIB,
    search_space=lambda trial, ctx: {"balancing": trial.suggest_categorical("balancing", list(BALANCING)),
                                     "first_stage_share": stage_share(trial)},
    differences="The balanced set is drawn once per trial and visited in fresh orders; the fine-tuning stage "
                "keeps the trained head (no re-initialisation) and runs for the rest of the same epoch budget as "
                "every other row, with the suite's learning rate. The papers' first-stage epoch is one pass over "
                "the balanced set (C x the smallest class when under-sampling, C x the largest when "
                "over-sampling); here every epoch of both stages trains the original training split's size in "
                "samples, as every row's, so the total training samples equal the other rows'.",
)
def two_stage_learning(params: dict, ctx: MethodContext) -> Recipe:
    """Two-phase learning (Lee et al. 2016; Buda et al. 2018): balanced pre-training, then the output
    layer alone re-calibrated on the imbalanced data."""
    balanced = Stage("balanced", 0.0, train="all", batch_sampler=BalancedSubsetSampler(params.get("balancing", "over")))
    fine_tune = Stage("fine-tune-head", 0.0, train="head")
    return Recipe(stages=two_stage_schedule(balanced, fine_tune, params.get("first_stage_share", 0.7)))


@register_method(
    "two-stage-deferred-sampling",
    family="two-stage",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Train the whole network on the full imbalanced data first, then on a class-balanced training set "
            "(random over- or under-sampling), training the last layer alone or the whole network (tuned).",
    paper=LDAM_BIB,
    search_space=lambda trial, ctx: {"balancing": trial.suggest_categorical("balancing", list(BALANCING)),
                                     "rebalanced_train": trial.suggest_categorical("rebalanced_train", ["head", "all"]),
                                     "first_stage_share": stage_share(trial)},
    differences="Cao et al.'s deferred re-sampling switches the whole network to class-balanced sampling late "
                "in training (the deferred-resampling row); here the re-balanced stage uses a fixed over- or "
                "under-sampled set and may train only the head, as the two-stage literature does. An epoch of "
                "the re-balanced stage trains the original training split's size in samples (the balanced "
                "set visited several times, or partly), not one pass over it, so the total training samples "
                "equal the other rows'.",
)
def two_stage_deferred_sampling(params: dict, ctx: MethodContext) -> Recipe:
    """Deferred sampling: instance-balanced representation learning, then a class-balanced stage."""
    full = Stage("full-data", 0.0, train="all")
    balanced = Stage("balanced", 0.0, train=params.get("rebalanced_train", "head"),
                     batch_sampler=BalancedSubsetSampler(params.get("balancing", "over")))
    return Recipe(stages=two_stage_schedule(full, balanced, params.get("first_stage_share", 0.7)))
