"""Batch-level sampling (the ``batch_sampler`` hook): which training rows each epoch visits, and how often.

The deep engine calls ``batch_indices(epoch, state)`` at the start of every epoch and trains on the
returned indices in order, in batches. An epoch holds a fixed number of samples whatever a draw's
length (the original training split's size, the same for every method: ``benchmark.training.epochs``):
the engine draws again, with the same epoch and state, while an epoch is short of that count and cuts
the last draw there, so a sampler's draw length sets class proportions, not compute. Everything here draws with the trial's device generator
(``state.generator``), so an epoch's indices are one tensor operation on the device and a seed
reproduces them. ``state.y`` holds the training labels after any ``resample`` hook.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import DECOUPLING_BIB, DYNAMIC_BIB, LDAM_BIB, RELAY_BIB, SQRT_BIB
from benchmark.methods.base import ALL_MODALITIES, MethodContext, Recipe, register_method


def class_counts(state) -> torch.Tensor:
    return torch.bincount(state.y, minlength=state.num_classes)


class ClassBalancedSampler:
    """Draws as many rows as the training set has, with replacement, class c with probability
    proportional to n_c^q (then uniformly within the class), via ``torch.multinomial`` on per-row
    weights n_c^(q-1), as ``torch.utils.data.WeightedRandomSampler`` would.

    q = 0: class-balanced (per-row weights 1 / n_c, every class equally likely); q = 1/2: square-root
    sampling (Mahajan et al. 2018); q = 1: plain instance sampling.
    """

    def __init__(self, q: float = 0.0):
        if not 0.0 <= q <= 1.0:
            raise BenchmarkError(f"class-balanced sampling exponent q={q} is invalid", "use 0 <= q <= 1")
        self.q = q

    def row_weights(self, state) -> torch.Tensor:
        counts = class_counts(state).float().clamp_min(1.0)
        return counts.pow(self.q - 1.0)[state.y]

    def batch_indices(self, epoch: int, state) -> torch.Tensor:
        weights = self.row_weights(state)
        return torch.multinomial(weights, state.y.numel(), replacement=True, generator=state.generator)


class ClassReorganisationSampler:
    """Per epoch, every class contributes ``max_num`` (the largest class size) indices into its own
    rows, each a random number modulo the class size; the class lists are concatenated and
    shuffled, so every class is seen equally often (C * max_num rows per epoch)."""

    def batch_indices(self, epoch: int, state) -> torch.Tensor:
        y, gen, dev = state.y, state.generator, state.y.device
        counts = class_counts(state)
        by_class = torch.argsort(y, stable=True)  # rows grouped by class
        starts = torch.cumsum(counts, 0) - counts
        present = torch.nonzero(counts > 0).flatten()
        max_num = int(counts.max())
        cls = present.repeat_interleave(max_num)
        draws = torch.randint(0, 2**31 - 1, (cls.numel(),), generator=gen, device=dev)
        rows = by_class[starts[cls] + draws % counts[cls]]
        return rows[torch.randperm(rows.numel(), generator=gen, device=dev)]


def dynamic_sample_counts(f1: np.ndarray, total: int) -> np.ndarray:
    """Pouyanfar et al. (2018): class c gets total * (1 - F1_c) / sum_k (1 - F1_k) rows, rounded so the
    counts add up to ``total`` (largest remainders first). Equal shares when every F1 is 1."""
    miss = 1.0 - np.clip(np.asarray(f1, dtype=np.float64), 0.0, 1.0)
    share = miss / miss.sum() if miss.sum() > 0 else np.full(len(miss), 1.0 / len(miss))
    raw = share * total
    counts = np.floor(raw).astype(np.int64)
    for c in np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]:
        counts[c] += 1
    return counts


class DynamicSampler:
    """Dynamic sampling (Pouyanfar et al. 2018): after each epoch the next epoch's per-class sample
    counts follow :func:`dynamic_sample_counts` of the last validation F1 per class, with the total
    the mean class size (the paper's N). A class with fewer rows than its count is over-sampled
    (each row once, plus random repeats), one with more is under-sampled without replacement. The
    first epoch, before any validation, gives every class an equal share. The engine repeats the
    draw (about C times) to fill its fixed epoch, so one draw is a few tensor operations, no loop
    over classes."""

    def __init__(self):
        self._labels: torch.Tensor | None = None

    def _class_layout(self, y: torch.Tensor, num_classes: int) -> None:
        if self._labels is y:  # the engine keeps one label tensor per stage: count once, not per draw
            return
        self._labels = y
        self._counts = torch.bincount(y, minlength=num_classes)
        self._present = (self._counts > 0).cpu().numpy()
        self._starts = torch.cumsum(self._counts, 0) - self._counts

    def batch_indices(self, epoch: int, state) -> torch.Tensor:
        gen, dev, y = state.generator, state.y.device, state.y
        self._class_layout(y, state.num_classes)
        present = self._present
        total = int(round(y.numel() / int(present.sum())))
        f1 = state.val_per_class_f1 if state.val_per_class_f1 is not None else np.zeros(state.num_classes)
        f1 = np.where(present, np.asarray(f1, dtype=np.float64), 1.0)  # absent classes: no share
        wanted = dynamic_sample_counts(f1, total) * present
        counts, starts = self._counts, self._starts
        # rows grouped by class, in a random order within each class (stable sort of a permutation)
        perm = torch.randperm(y.numel(), generator=gen, device=dev)
        grouped = perm[torch.argsort(y[perm], stable=True)]
        n = int(wanted.sum())
        wanted_t = torch.as_tensor(wanted, device=dev)
        cls = torch.repeat_interleave(torch.arange(counts.numel(), device=dev), wanted_t, output_size=n)
        offset = torch.cumsum(wanted_t, 0) - wanted_t
        within = torch.arange(n, device=dev) - offset[cls]  # 0, 1, ... within each class: every row, then repeats
        chosen = grouped[starts[cls] + within % counts[cls]]
        return chosen[torch.randperm(n, generator=gen, device=dev)]


class DeferredResampler:
    """Deferred re-sampling (DRS, Cao et al. 2019): plain shuffled epochs before ``start_epoch``,
    then ``later`` (class-balanced sampling by default)."""

    def __init__(self, start_epoch: int, later=None):
        self.start_epoch = int(start_epoch)
        self.later = later or ClassBalancedSampler(0.0)

    def batch_indices(self, epoch: int, state) -> torch.Tensor:
        if epoch < self.start_epoch:
            return torch.randperm(state.y.numel(), generator=state.generator, device=state.y.device)
        return self.later.batch_indices(epoch, state)


def batch_sampler_row(name: str, summary: str, paper: str, **extra):
    return register_method(name, family="batch-sampling", modalities=ALL_MODALITIES, engines=("deep",),
                           summary=summary, paper=paper, **extra)


@batch_sampler_row("class-balanced-sampling", "Every batch draws classes with equal probability: per-row weights "
                   "1 / n_c with torch.multinomial, as WeightedRandomSampler.", DECOUPLING_BIB)
def class_balanced_sampling(params: dict, ctx: MethodContext) -> Recipe:
    """Class-balanced sampling (the q = 0 case of Kang et al. 2020's family of samplers)."""
    return Recipe(batch_sampler=ClassBalancedSampler(0.0))


@batch_sampler_row("square-root-sampling", "Classes are drawn with probability proportional to the square root of "
                   "their size (between instance and class-balanced sampling).", SQRT_BIB)
def square_root_sampling(params: dict, ctx: MethodContext) -> Recipe:
    """Square-root sampling (Mahajan et al. 2018; q = 1/2 in Kang et al. 2020)."""
    return Recipe(batch_sampler=ClassBalancedSampler(0.5))


@batch_sampler_row("class-reorganisation-sampling", "Each epoch, every class contributes as many random rows as the "
                   "largest class has (random numbers modulo the class size), shuffled together.", RELAY_BIB,
                   differences="The paper's class-aware sampling draws a class, then a row of it, per sample; here "
                               "each draw holds C x (largest class) rows, every class drawn equally often. The "
                               "paper's epoch is that draw (about C times the largest class); here an epoch is cut "
                               "at the original training split's size, as every row's, so the total training "
                               "samples equal the other rows'.")
def class_reorganisation_sampling(params: dict, ctx: MethodContext) -> Recipe:
    """Class re-organisation (class-aware) sampling of Shen et al. (2016)."""
    return Recipe(batch_sampler=ClassReorganisationSampler())


@batch_sampler_row("dynamic-sampling", "After each epoch, the next epoch's per-class counts are proportional to "
                   "1 - F1 of the class on validation (total: the mean class size).", DYNAMIC_BIB,
                   differences="The paper's real-time augmentation of the repeated rows is left to the augment "
                               "hook. The paper's epoch holds the mean class size N of rows (about 1/C of a plain "
                               "epoch); here each draw holds N rows in the F1 shares and an epoch repeats draws up "
                               "to the original training split's size, as every row's, so the total training "
                               "samples equal the other rows' and the shares are re-set after every such epoch.")
def dynamic_sampling(params: dict, ctx: MethodContext) -> Recipe:
    """Dynamic sampling (Pouyanfar et al. 2018), driven by the engine's per-class validation F1."""
    return Recipe(batch_sampler=DynamicSampler())


@batch_sampler_row("deferred-resampling", "Plain shuffled epochs first, class-balanced sampling from a tuned epoch "
                   "on (DRS).", LDAM_BIB,
                   search_space=lambda trial, ctx: {"drs_start": trial.suggest_float("drs_start", 0.5, 0.9)},
                   differences="The switch from plain to class-balanced epochs is tuned between 50% and 90% of "
                               "the suite's epochs; the paper switches at epoch 160 of 200 (80%).")
def deferred_resampling(params: dict, ctx: MethodContext) -> Recipe:
    """Deferred re-sampling (Cao et al. 2019): the switch at a tuned fraction of the epochs (the paper: 160 of 200)."""
    from benchmark.methods.losses.deferred_reweighting import drw_start_epoch

    return Recipe(batch_sampler=DeferredResampler(drw_start_epoch(params.get("drs_start", 0.8), ctx.epochs)))
