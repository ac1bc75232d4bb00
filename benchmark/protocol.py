"""The rules that make a comparison fair: imbalance profiles, splits, minority classes, seeds.

Everything here is a pure function of its inputs and a seed, so the same split seed gives
byte-identical splits on every machine (NumPy's PCG64 generator is platform independent).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmark.errors import BenchmarkError

MINORITY_FRACTION = 1 / 3


# -- imbalance profiles --------------------------------------------------------------------------
def exponential_profile(n_max: int, num_classes: int, rho: float) -> list[int]:
    """n_i = floor(n_max * rho^(-i/(C-1))) for classes i = 0..C-1 (Cui et al. 2019; Cao et al. 2019).

    Computed as ``n_max * (1/rho) ** (i/(C-1))``, the form of the long-tail literature's code, so
    counts match published ones (CIFAR-10-LT, rho=100: 12,406 images).
    """
    check_rho(rho)
    if num_classes < 2:
        return [int(n_max)]
    return [int(n_max * (1.0 / rho) ** (i / (num_classes - 1.0))) for i in range(num_classes)]


def step_profile(n_max: int, num_classes: int, rho: float) -> list[int]:
    """The first half of the classes keep n_max, the second half keep floor(n_max / rho)."""
    check_rho(rho)
    head = num_classes // 2
    return [int(n_max)] * head + [int(n_max / rho)] * (num_classes - head)


PROFILES = {"exp": exponential_profile, "step": step_profile}


def check_rho(rho: float) -> None:
    if not (isinstance(rho, int | float) and math.isfinite(rho) and rho >= 1):
        raise BenchmarkError(
            f"imbalance ratio rho={rho!r} is invalid",
            "use a number >= 1 (1 = balanced; the long-tail literature uses 10, 50 or 100)",
        )


def subsample_per_class(y: np.ndarray, counts: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """Indices keeping ``counts[c]`` randomly chosen samples of each class c (sorted by class, then order)."""
    chosen = []
    for c, n in enumerate(counts):
        idx = np.flatnonzero(y == c)
        if n > idx.size:
            raise BenchmarkError(
                f"class {c} has {idx.size} samples but the profile asks for {n}",
                "lower n_max or use a larger source dataset",
            )
        chosen.append(np.sort(rng.permutation(idx)[:n]))
    return np.concatenate(chosen) if chosen else np.empty(0, dtype=np.int64)


# -- hold-outs -----------------------------------------------------------------------------------
def stratified_holdout(
    y: np.ndarray, fraction: float, rng: np.random.Generator, *, what: str = "validation"
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (kept, held_out): each class contributes round(fraction * n_c) samples,
    at least one, and keeps at least one. Proportions of the held-out part follow the source."""
    if not 0 < fraction < 1:
        raise BenchmarkError(f"{what} fraction {fraction!r} is invalid", "use a number between 0 and 1")
    kept, held = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        if idx.size < 2:
            raise BenchmarkError(
                f"class {int(c)} has {idx.size} sample(s): too few to hold out one {what} sample and keep one for training",
                "use a smaller imbalance ratio, a larger dataset, or drop that class",
            )
        n_held = min(max(1, int(round(fraction * idx.size))), idx.size - 1)
        held.append(idx[:n_held])
        kept.append(idx[n_held:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def balanced_holdout(y: np.ndarray, per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Hold out exactly ``per_class`` samples of every class (a balanced test set)."""
    kept, held = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        if idx.size <= per_class:
            raise BenchmarkError(
                f"class {int(c)} has {idx.size} samples; a balanced hold-out of {per_class} leaves none",
                "lower the hold-out size",
            )
        held.append(idx[:per_class])
        kept.append(idx[per_class:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


# -- minority classes ----------------------------------------------------------------------------
def minority_classes(train_counts: Sequence[int], fraction: float = MINORITY_FRACTION) -> list[int]:
    """Binary: class 1 (loaders encode the positive/minority class as 1). Multi-class: the
    ceil(fraction * C) classes with the fewest training samples (ties: the higher class index)."""
    counts = list(train_counts)
    if len(counts) == 2:
        return [1]
    k = max(1, math.ceil(fraction * len(counts)))
    order = sorted(range(len(counts)), key=lambda c: (counts[c], -c))
    return sorted(order[:k])


# -- seeds -----------------------------------------------------------------------------------------
def trial_seed(base: int, trial_number: int) -> int:
    """Seed of tuning trial ``trial_number``: distinct from the re-run seeds 0..K-1."""
    return 10_000 + 1_000 * base + trial_number


@dataclass(frozen=True)
class Budget:
    """The budget every (method, dataset) pair of a suite gets alike: tuning trials, seed re-runs
    and optional time caps.

    ``timeout`` caps the wall-clock seconds during which at least one of the pair's trials ran (on any
    worker; pauses between runs do not count); ``device_seconds`` caps the summed seconds of its
    trials (each trial holds one worker's device or device share). When a cap is reached, running
    trials stop at their next epoch boundary (pruned) and no new trial starts.
    """

    trials: int
    seeds: int
    timeout: float | None = None  # wall-clock seconds of tuning per pair
    device_seconds: float | None = None  # summed seconds of a pair's trials, whichever workers ran them

    def __post_init__(self) -> None:
        if not isinstance(self.trials, int) or self.trials < 1:
            raise BenchmarkError(f"--trials {self.trials} is invalid", "give at least 1 trial per pair")
        if not isinstance(self.seeds, int) or self.seeds < 1:
            raise BenchmarkError(f"--seeds {self.seeds} is invalid", "give at least 1 seed for the re-runs")
        if self.timeout is not None and not self.timeout > 0:
            raise BenchmarkError(f"--timeout {self.timeout} is invalid", "give a positive number of seconds")
        if self.device_seconds is not None and not self.device_seconds > 0:
            raise BenchmarkError(f"--device-seconds {self.device_seconds} is invalid",
                                 "give a positive number of seconds, or none")

    def overridden(self, *, trials: int | None = None, seeds: int | None = None, timeout: float | None = None,
                   device_seconds: float | None = None) -> Budget:
        """This budget with the command line's overrides (None keeps the suite's value)."""
        return Budget(
            trials=self.trials if trials is None else trials,
            seeds=self.seeds if seeds is None else seeds,
            timeout=self.timeout if timeout is None else timeout,
            device_seconds=self.device_seconds if device_seconds is None else device_seconds,
        )

    def record(self) -> dict[str, float | int | None]:
        return {"trials": self.trials, "seeds": self.seeds, "timeout": self.timeout,
                "device_seconds": self.device_seconds}
