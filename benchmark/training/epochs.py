"""What an epoch is: a fixed number of training samples, the same for every method on a dataset.

Budgets are compute, not epochs (DESIGN.md, section 4). An epoch trains on as many samples as the
ORIGINAL training split has rows (the convention of the long-tail literature), whatever the method
does to the data: a batch sampler whose draw is shorter (dynamic sampling: the mean class size; an
under-sampled stage: C x the smallest class) is drawn from again until the count is reached, one
whose draw is longer (class re-organisation: C x the largest class) is cut at the count, and a
resampled training set (random over-sampling, SMOTE, generators, under-sampling) is visited in
permutation chunks of that count. So every method on a dataset takes the same optimiser steps per
epoch, and, since the suite's epochs are split over a recipe's stages, the same steps in all.

The rule for batches is the plain epoch's: ``ceil(N / batch_size)`` steps, the last one holding the
remainder, except that a remainder of a single sample is not drawn (one sample breaks batch
statistics), so that epoch trains ``N - 1`` samples in ``N // batch_size`` steps. Every stage
counts alike: a head-only stage, a stage training the head on resampled embeddings (EOS, cRT on
features) and a full-network stage each train ``N`` samples per epoch, although a head-only step
costs less time (the row's cost in seconds says how much).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from benchmark.errors import BenchmarkError


def epoch_compute(n_train: int, batch_size: int) -> tuple[int, int]:
    """(samples, optimiser steps) of one epoch on an original training split of ``n_train`` rows."""
    if n_train < 1 or batch_size < 1:
        raise BenchmarkError(f"an epoch of {n_train} training rows in batches of {batch_size}",
                             "train on a non-empty training split with a positive batch size")
    full, rest = divmod(n_train, batch_size)
    if rest == 1 and n_train > 1:  # a trailing batch of one sample is not drawn
        return n_train - 1, full
    return n_train, full + (rest > 0)


class EpochDraws:
    """The index tensor of each epoch of one stage: exactly ``samples`` indices, drawn from ``draw``.

    ``draw()`` gives one draw of the stage's source (a fresh permutation of the training set, or a
    batch sampler's ``batch_indices``), an index tensor of any positive length on the device. An epoch
    concatenates draws until it has ``samples`` indices and cuts there. With ``carry`` the indices cut
    off open the next epoch, so a permutation source is a stream of shuffled passes over the set and
    every row is seen equally often up to one (a resampled set of any size); without it they are
    dropped, so that a batch sampler whose draw depends on the epoch or on the last validation scores
    (deferred re-sampling, dynamic sampling) never trains on a stale draw.
    """

    def __init__(self, samples: int, draw: Callable[[], torch.Tensor], carry: bool, device: torch.device):
        if samples < 1:
            raise BenchmarkError(f"an epoch of {samples} samples", "draw at least one sample per epoch")
        self.samples, self.draw, self.carry, self.device = samples, draw, carry, device
        self._left: torch.Tensor | None = None
        self.draws = 0  # draws taken so far (a test reads it)

    def next_epoch(self) -> torch.Tensor:
        """The next epoch's ``samples`` indices (one host-side length check per draw, no sync)."""
        parts = [self._left] if self._left is not None and self._left.numel() else []
        have = sum(p.numel() for p in parts)
        while have < self.samples:
            part = torch.as_tensor(self.draw(), device=self.device).long().flatten()
            self.draws += 1
            if part.numel() == 0:
                raise BenchmarkError("a batch sampler returned no indices for an epoch",
                                     "return at least one training row index from batch_indices")
            parts.append(part)
            have += part.numel()
        order = parts[0] if len(parts) == 1 else torch.cat(parts)
        self._left = order[self.samples:] if self.carry else None
        return order[: self.samples]


def epoch_draws(batch_sampler: Any, state: Any, rows: int, samples: int, generator: torch.Generator,
                device: torch.device) -> EpochDraws:
    """A stage's epochs of ``samples`` indices: from the batch sampler (a fresh draw each epoch, repeated
    or cut to the count), else from shuffled passes over the stage's ``rows`` training rows (a stream, so
    a resampled set of any size has each row seen equally often)."""
    if batch_sampler is not None:
        return EpochDraws(samples, lambda: batch_sampler.batch_indices(state.epoch, state), carry=False,
                          device=device)
    return EpochDraws(samples, lambda: torch.randperm(rows, generator=generator, device=device), carry=True,
                      device=device)
