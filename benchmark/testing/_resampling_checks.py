"""Checks of the ``resample`` hook: training rows only, and the counts each sampling family promises.

imbalanced-learn's ``estimator_checks`` test samplers by family; these are the same properties on
the benchmark's tiny splits, one check per promise a family makes (its record in
:data:`~benchmark.methods.FAMILY_TABLE` names the check): an over-sampler raises every class below its
target to the target (and no further), an under-sampler or cleaning rule never removes a row of the
smallest class nor adds rows, a combined sampler leaves the classes less imbalanced; any other
``resample`` hook gets the training-rows check alone. Every call goes through the deep
engine's own data preparation, with the hook wrapped so it can be seen receiving the training rows
and nothing else; the validation and test arrays must come out byte for byte as they went in.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

from benchmark.datasets.base import Split
from benchmark.methods.base import Method, Recipe
from benchmark.testing._context import (
    CheckOptions,
    default_recipe,
    fail,
    largest_class,
    main_cases,
    smallest_class,
)

# Where the classes overlap, every over-sampler has rows to grow from (borderline and SVM variants
# synthesise only near the border, and the tiny image splits have none): the target is checked on
# the first of these splits the method applies to.
TARGET_SPLITS = ("tiny-tabular", "tiny-tabular-numeric", "tiny-nominal", "tiny-text", "tiny-image-binary", "tiny-image")


def held_out_digest(split: Split) -> str:
    """A digest of the validation and test arrays' bytes (and dtypes and shapes)."""
    h = hashlib.sha256()
    for part in (split.val, split.test):
        for array in (np.asarray(part.X), np.asarray(part.y)):
            h.update(str((array.dtype, array.shape)).encode())
            h.update(np.ascontiguousarray(array).tobytes() if array.dtype != object else repr(array.tolist()).encode())
    return h.hexdigest()


class ResampleSpy:
    """Wraps a ``resample`` component: records what it was given and what it returned."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.space = getattr(inner, "space", "features")
        self.calls: list[tuple[Any, np.ndarray, Any, np.ndarray]] = []

    def resample(self, X: Any, y: Any, seed: int) -> tuple[Any, Any]:
        X_out, y_out = self.inner.resample(X, y, seed=seed)
        self.calls.append((X, np.asarray(y).copy(), X_out, np.asarray(y_out)))
        return X_out, y_out


def check_training_rows_only(method: Method, spy: ResampleSpy, split: Split, digest: str, where: str) -> None:
    """The hook ran once, on exactly the training rows, and the held-out parts are untouched."""
    if len(spy.calls) != 1:
        fail(method, "resampling", f"the resample hook ran {len(spy.calls)} times on {where} (once expected)")
    X_in, y_in, _, _ = spy.calls[0]
    if X_in.shape[0] != len(split.train) or not np.array_equal(y_in, split.train.y):
        fail(method, "resampling", f"the resample hook got {X_in.shape[0]} rows on {where}, not the "
                                   f"{len(split.train)} training rows")
    if held_out_digest(split) != digest:
        fail(method, "resampling", f"the validation or test rows of {where} changed")


def _rows(X: Any) -> np.ndarray:
    dense = X.toarray() if sp.issparse(X) else np.asarray(X)
    return dense.reshape(len(dense), -1)


def _row_set(X: Any, rows: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in _rows(X)[rows].astype(np.float64)} if len(rows) else set()


def oversampling_targets(params: dict, counts: list[int]) -> list[int]:
    """The class sizes an over-sampler promises: ``target_ratio`` x the largest class (rounded up),
    a binary ``sampling_strategy`` ratio x the majority (imbalanced-learn's rounding down), or the
    largest class ("auto", no parameter)."""
    n_max = max(counts)
    if "target_ratio" in params:
        goal = math.ceil(float(params["target_ratio"]) * n_max - 1e-9)
        return [max(n, goal) for n in counts]
    strategy = params.get("sampling_strategy", "auto")
    if isinstance(strategy, float | int) and not isinstance(strategy, bool):
        goal = int(float(strategy) * n_max)
        return [n if c == largest_class(counts) else max(n, goal) for c, n in enumerate(counts)]
    return [n_max] * len(counts)


def _resampled(method: Method, options: CheckOptions, promised: bool) -> Iterator[tuple[str, dict, list, list, Any]]:
    """Run the resample hook of each tiny split (over-sampling targets' splits first) through the deep
    engine's data preparation, check that it saw the training rows only and left the held-out rows
    alone, and yield ``(split name, params, counts before, counts after, the spy's call)``. ``promised``:
    the method's family makes a resampling promise, so a recipe without the hook fails."""
    from benchmark.training.deep import prepare_training_data

    cases = sorted(main_cases(method, options),
                   key=lambda c: TARGET_SPLITS.index(c.split.dataset) if c.split.dataset in TARGET_SPLITS else 99)
    for case in cases:
        split, where = case.split, case.split.dataset
        params, recipe = default_recipe(method, case)
        if recipe.resample is None:
            if promised:
                fail(method, "resampling", f"its family is {method.family} but its recipe on {where} sets no "
                                           "resample hook")
            continue
        spy = ResampleSpy(recipe.resample)
        digest = held_out_digest(split)
        prepare_training_data(split, Recipe(resample=spy), case.config, seed=0)
        check_training_rows_only(method, spy, split, digest, where)
        _, y_in, X_out, y_out = spy.calls[0]
        if len(y_out) != _rows(X_out).shape[0]:
            fail(method, "resampling", f"it returned {_rows(X_out).shape[0]} rows and {len(y_out)} labels on {where}")
        before = np.bincount(y_in, minlength=split.num_classes).tolist()
        after = np.bincount(y_out, minlength=split.num_classes).tolist()
        yield where, params, before, after, spy.calls[0]


def check_resampling(method: Method, options: CheckOptions) -> None:
    """The ``resample`` hook of any recipe: training rows only, held-out rows untouched, as many labels
    as rows."""
    for _ in _resampled(method, options, promised=False):
        pass


def check_over_sampling(method: Method, options: CheckOptions) -> None:
    """The resampling checks, and an over-sampler's counts: no row removed, no class beyond its target,
    and on the first split where the classes overlap every class raised to its target."""
    target_checked = False
    for where, params, before, after, _ in _resampled(method, options, promised=True):
        seen = f"class counts {before} -> {after} on {where} with {params}"
        if any(a < b for a, b in zip(after, before, strict=True)):
            fail(method, "over-sampling", f"an over-sampler removed rows: {seen}")
        targets = oversampling_targets(params, before)
        if any(a > t + max(2, 0.05 * t) for a, t in zip(after, targets, strict=True)):
            fail(method, "over-sampling", f"a class went beyond its target {targets}: {seen}")
        if not target_checked:
            short = [c for c, (a, t) in enumerate(zip(after, targets, strict=True)) if a < t - max(2, 0.05 * t)]
            if short:
                fail(method, "over-sampling", f"class(es) {short} stayed below the target {targets}: {seen}")
            if after == before:
                fail(method, "over-sampling", f"it added no row: {seen}")
            target_checked = True


def check_under_sampling(method: Method, options: CheckOptions) -> None:
    """The resampling checks, and those of a sampler that removes rows (under-sampling, cleaning): no
    row added, every row of the smallest class kept as it was, and some row removed on some split."""
    removed_any, wheres = False, []
    for where, params, before, after, (X_in, y_in, X_out, y_out) in _resampled(method, options, promised=True):
        wheres.append(where)
        seen = f"class counts {before} -> {after} on {where} with {params}"
        removed_any = removed_any or len(y_out) < len(y_in)
        if any(a > b for a, b in zip(after, before, strict=True)):
            fail(method, method.family, f"it added rows: {seen}")
        small = smallest_class(before)
        kept = _row_set(X_out, np.flatnonzero(y_out == small))
        if after[small] != before[small] or not _row_set(X_in, np.flatnonzero(y_in == small)) <= kept:
            fail(method, method.family, f"it removed or changed rows of the smallest class {small}: {seen}")
    if wheres and not removed_any:
        fail(method, method.family, f"it removed no row on any tiny split ({', '.join(wheres)})")


def check_combined_sampling(method: Method, options: CheckOptions) -> None:
    """The resampling checks, and a combined sampler leaves the classes less imbalanced."""
    for where, params, before, after, _ in _resampled(method, options, promised=True):
        ratio = lambda counts: max(counts) / max(min(counts), 1)  # noqa: E731
        if ratio(after) >= ratio(before):
            fail(method, "combined-sampling", f"the classes did not become less imbalanced: class counts {before} "
                                              f"-> {after} on {where} with {params}")
