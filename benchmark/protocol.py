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
from benchmark.limits import check_setting

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


# -- duplicates ----------------------------------------------------------------------------------
def normalise_text(text: str) -> str:
    """A text as duplicate detection compares it: runs of whitespace collapsed to one space, ends
    stripped, case folded (``str.casefold``). Case is folded because the text featurisers lower-case
    (TF-IDF does by default), so two messages differing only in case are one input to the model."""
    return " ".join(text.split()).casefold()


def row_keys(X: np.ndarray) -> np.ndarray:
    """One comparable key per row: texts normalised (:func:`normalise_text`), any other array's rows
    as their raw bytes (images: identical pixels; tables: identical values in every column, NaN equal
    to NaN and -0.0 to 0.0)."""
    if X.dtype.kind in "UO":
        return np.array([normalise_text(str(t)) for t in X], dtype=str)
    X = np.asarray(X)
    if X.dtype.kind == "f":
        X = np.where(X == 0, np.zeros((), X.dtype), X)  # -0.0 and 0.0 are one value
    X = np.ascontiguousarray(X.reshape(len(X), -1))
    return X.view(np.dtype((np.void, X.dtype.itemsize * X.shape[1]))).ravel()


def duplicate_groups(X: np.ndarray) -> np.ndarray:
    """Group of each row: rows with equal keys (:func:`row_keys`) share one group, numbered by the
    index of the group's first row (so a table without duplicates gets ``arange(n)``)."""
    n = len(X)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    _, first, inverse = np.unique(row_keys(X), return_index=True, return_inverse=True)
    return first[inverse.ravel()].astype(np.int64)


def duplicate_summary(groups: np.ndarray, y: np.ndarray) -> dict[str, int]:
    """How many duplicates :func:`duplicate_groups` found: ``duplicate_rows`` (rows beyond the first
    of their group), ``groups`` (groups of two or more rows), ``rows_grouped`` (rows in them) and
    ``conflicting_groups`` (groups whose rows carry different labels)."""
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    multi = sizes[inverse.ravel()] > 1
    conflicting = 0
    if multi.any():
        labels = {}
        for g, label in zip(groups[multi].tolist(), y[multi].tolist(), strict=True):
            labels.setdefault(g, set()).add(label)
        conflicting = sum(len(v) > 1 for v in labels.values())
    return {"duplicate_rows": int(len(groups) - len(sizes)), "groups": int((sizes > 1).sum()),
            "rows_grouped": int(multi.sum()), "conflicting_groups": int(conflicting)}


def rows_in(X: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Mask of the rows of ``X`` equal (by :func:`row_keys`) to some row of ``other``."""
    if len(X) == 0 or len(other) == 0:
        return np.zeros(len(X), dtype=bool)
    keys = np.concatenate([row_keys(X), row_keys(other)])
    _, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.ravel()
    return np.isin(inverse[:len(X)], inverse[len(X):])


def _strata(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The class each row is stratified under: its own, except that all rows of a group whose rows
    carry different labels go under the group's rarest label (so the minority's share of each part is
    kept; such groups are rare label noise in the source)."""
    strata = y.copy()
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    multi = np.flatnonzero(sizes[inverse.ravel()] > 1)
    if multi.size:
        labels, counts = np.unique(y, return_counts=True)
        count_of = dict(zip(labels.tolist(), counts.tolist(), strict=True))
        members: dict[int, list[int]] = {}
        for i in multi.tolist():
            members.setdefault(int(groups[i]), []).append(i)
        for rows in members.values():
            present = {int(y[i]) for i in rows}
            if len(present) > 1:
                strata[rows] = min(present, key=lambda c: (count_of[c], -c))
    return strata


def _draw_groups(rows: np.ndarray, groups: np.ndarray, target: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of randomly ordered whole groups (of ``rows``) adding up to ``target`` rows where the group
    sizes allow (a group that would overshoot is passed over); at least one group. Without duplicates
    this is ``rng.permutation(rows)[:target]``, the same draw as before groups existed."""
    g = groups[rows]
    _, first, inverse, sizes = np.unique(g, return_index=True, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    order = np.argsort(first, kind="stable")  # groups in the order of their first row
    ordered_groups = np.arange(len(sizes))[order]
    perm = rng.permutation(ordered_groups)
    if (sizes == 1).all():
        chosen = perm[:target]
    else:
        picked, total = [], 0
        for k in perm.tolist():
            if total + sizes[k] <= target:
                picked.append(k)
                total += int(sizes[k])
                if total == target:
                    break
        chosen = np.array(picked or [perm[0]], dtype=np.int64)
    return rows[np.isin(inverse, chosen)]


def _distinct(rows: np.ndarray, groups: np.ndarray) -> int:
    return int(np.unique(groups[rows]).size)


# -- hold-outs -----------------------------------------------------------------------------------
# (test, validation) fractions of the stratified hold-outs where a dataset's parameters give none, by
# modality: tables hold out more for testing (their minority classes are small), texts and images a fifth.
# Long-tail image sets keep their official test set and use the validation fraction only.
HOLDOUT_FRACTIONS = {"tabular": (0.3, 0.25), "text": (0.2, 0.2), "image": (0.2, 0.2)}


def holdout_fractions(modality: str, params: dict) -> tuple[float, float]:
    """The (test, validation) fractions of a dataset: its parameters', else its modality's defaults."""
    test, val = HOLDOUT_FRACTIONS[modality]
    return params.get("test_fraction", test), params.get("val_fraction", val)


def holdout_count(n: int, fraction: float) -> int:
    """Rows a class of ``n`` rows holds out: round(fraction * n), at least one, and one kept."""
    return min(max(1, int(round(fraction * n))), n - 1)


def stratified_holdout(
    y: np.ndarray, fraction: float, rng: np.random.Generator, *, what: str = "validation",
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (kept, held_out): each class contributes round(fraction * n_c) samples,
    at least one, and keeps at least one. Proportions of the held-out part follow the source.

    ``groups`` (from :func:`duplicate_groups`) keeps every group of duplicates in one part: whole
    groups are drawn until the class's count is reached. Without it every row is its own group."""
    if not 0 < fraction < 1:
        raise BenchmarkError(f"{what} fraction {fraction!r} is invalid", "use a number between 0 and 1")
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    strata = _strata(y, groups)
    kept, held = [], []
    for c in np.unique(strata):
        rows = np.flatnonzero(strata == c)
        distinct = _distinct(rows, groups)
        if distinct < 2:
            counted = f"{rows.size} sample(s)" if distinct == rows.size else (
                f"{distinct} distinct sample(s) ({rows.size} rows, duplicates grouped)")
            raise BenchmarkError(
                f"class {int(c)} has {counted}: too few to hold out one {what} sample and keep one for training",
                "use a smaller imbalance ratio, a larger dataset, or drop that class",
            )
        n_held = holdout_count(rows.size, fraction)
        chosen = _draw_groups(rows, groups, n_held, rng)
        held.append(chosen)
        kept.append(np.setdiff1d(rows, chosen))
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def balanced_holdout(y: np.ndarray, per_class: int, rng: np.random.Generator,
                     groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hold out ``per_class`` samples of every class (a balanced test set); ``groups`` keeps every
    group of duplicates in one part (a class then holds out fewer where its group sizes do not add up)."""
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    strata = _strata(y, groups)
    kept, held = [], []
    for c in np.unique(strata):
        rows = np.flatnonzero(strata == c)
        if rows.size <= per_class or _distinct(rows, groups) < 2:
            raise BenchmarkError(
                f"class {int(c)} has {rows.size} samples; a balanced hold-out of {per_class} leaves none",
                "lower the hold-out size",
            )
        chosen = _draw_groups(rows, groups, per_class, rng)
        held.append(chosen)
        kept.append(np.setdiff1d(rows, chosen))
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
        check_setting("trials", self.trials, "--trials")
        check_setting("seeds", self.seeds, "--seeds")
        if self.timeout is not None:
            check_setting("timeout", self.timeout, "--timeout")
        if self.device_seconds is not None:
            check_setting("device_seconds", self.device_seconds, "--device-seconds")

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
