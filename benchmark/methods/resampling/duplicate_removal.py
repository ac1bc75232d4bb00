"""Duplicate-removal under-sampling: a cleaning rule that removes redundant majority rows.

Instance-reduction rules (Wilson and Martinez 2000) drop the training rows that add nothing a nearby
kept row does not already hold; one-sided selection (Kubat and Matwin 1997) applies the idea to the
majority class of an imbalanced set. This row does it in its simplest, tunable form: within each
majority class, in a seeded random order, a row is kept unless a row kept before it lies within the
tuned radius; a kept row removes every row of its class within the radius. Exact duplicates (distance
0) always go, whatever the radius. The kept rows of a class are thus pairwise farther apart than the
radius, and every removed row lies within it of a kept one.

The radius is a tuned multiple (0 to 1.5) of the class's median distance from a row to its nearest
distinct neighbour, so one range fits every dataset's scale. Distances are Euclidean in the feature
space the engines give ``space = "features"`` samplers: standardised tabular features, TF-IDF or
sentence embeddings for text, pixels for images. Minority classes (the split's tail classes, and
always the smallest class) are never touched.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import OSS_BIB, REDUCTION_BIB
from benchmark.methods.base import MethodContext, Recipe
from benchmark.methods.resampling.under_sampling import undersampler

# Up to 1.5 times the median nearest-neighbour distance: at 1 a net keeps most rows of 4-D or wider data
# (distances concentrate as dimensions grow), at 1.5 it thins a class markedly.
MAX_RADIUS = 1.5


class DuplicateRemoval:
    """The ``resample`` component: removes redundant rows of every class outside ``protected`` (and
    never the smallest class), as the module docstring describes. ``radius``: the multiple of each
    class's median nearest-distinct-neighbour distance within which a kept row removes another."""

    space = "features"

    def __init__(self, radius: float, protected: tuple[int, ...] = ()):
        if not 0.0 <= radius <= MAX_RADIUS:
            raise BenchmarkError(f"duplicate removal got radius={radius}",
                                 f"use a radius in [0, {MAX_RADIUS}] (times the median nearest-neighbour distance)")
        self.radius, self.protected = float(radius), tuple(int(c) for c in protected)

    def resample(self, X: Any, y: np.ndarray, seed: int) -> tuple[Any, np.ndarray]:
        y = np.asarray(y, dtype=np.int64)
        flat = X.reshape(len(X), -1).astype(np.float32) if isinstance(X, np.ndarray) and X.ndim > 2 else X
        counts = np.bincount(y)
        smallest = int(np.argmin(np.where(counts > 0, counts, np.iinfo(np.int64).max)))
        rng = np.random.default_rng(seed)
        keep = np.ones(len(y), dtype=bool)
        for c in np.flatnonzero(counts > 1):
            if c == smallest or c in self.protected:
                continue
            rows = np.flatnonzero(y == c)
            keep[rows[~redundancy_net(flat[rows], self.radius, rng)]] = False
        kept = np.flatnonzero(keep)
        return X[kept], y[kept]


def _row_keys(X: Any) -> list[bytes]:
    """A byte string per row, equal exactly for equal rows (dense or sparse)."""
    if sp.issparse(X):
        X = sp.csr_matrix(X, copy=True)  # canonical form, without touching the caller's matrix
        X.sum_duplicates()
        X.sort_indices()
        X.eliminate_zeros()
        bounds = zip(X.indptr[:-1], X.indptr[1:], strict=True)
        return [X.indices[a:b].tobytes() + b"|" + X.data[a:b].tobytes() for a, b in bounds]
    dense = np.ascontiguousarray(X) + 0.0  # + 0.0: -0.0 and 0.0 are the same value
    return [row.tobytes() for row in dense]


def redundancy_net(X: Any, radius: float, rng: np.random.Generator) -> np.ndarray:
    """Which rows of one class to keep (boolean mask): exact duplicates removed, then a greedy net in
    seeded random order at ``radius`` times the median distance to the nearest distinct row."""
    from sklearn.neighbors import NearestNeighbors

    n = X.shape[0]
    order = rng.permutation(n)
    keep = np.zeros(n, dtype=bool)
    seen: set[bytes] = set()
    keys = _row_keys(X)
    for i in order:  # the first of each group of equal rows in the seeded order stays
        if keys[i] not in seen:
            seen.add(keys[i])
            keep[i] = True
    distinct = np.flatnonzero(keep)
    if radius == 0.0 or len(distinct) < 2:
        return keep
    Xd = X[distinct]
    search = NearestNeighbors(n_neighbors=2, n_jobs=1).fit(Xd)
    scale = float(np.median(search.kneighbors(Xd, return_distance=True)[0][:, 1]))
    graph = search.radius_neighbors_graph(Xd, radius=radius * scale, mode="connectivity").tocsr()
    position = np.empty(n, dtype=np.int64)
    position[distinct] = np.arange(len(distinct))
    removed, kept = np.zeros(len(distinct), dtype=bool), np.zeros(len(distinct), dtype=bool)
    for i in position[order[keep[order]]]:  # distinct rows, in the seeded order
        if removed[i]:
            continue
        kept[i] = True
        near = graph.indices[graph.indptr[i]:graph.indptr[i + 1]]
        removed[near[~kept[near]]] = True
    keep[distinct[removed]] = False
    return keep


@undersampler("duplicate-removal-undersampling",
              "Remove majority rows lying within a tuned distance of another kept row of their class (exact "
              "duplicates always), so the majority keeps its spread but not its redundancy.",
              REDUCTION_BIB + "\n" + OSS_BIB,
              lambda trial, ctx: {"radius": trial.suggest_float("radius", 0.0, MAX_RADIUS)},
              family="cleaning",
              differences="Wilson and Martinez survey instance-reduction rules that drop redundant rows, and "
                          "Kubat and Matwin's one-sided selection removes redundant majority rows with Hart's "
                          "CNN; neither names this exact rule. Here redundancy is distance: a greedy net at a "
                          "tuned multiple of each class's median nearest-distinct-neighbour distance, in a "
                          "seeded order; the split's minority classes are never touched.")
def duplicate_removal_undersampling(params: dict, ctx: MethodContext) -> Recipe:
    """Near-duplicate removal in the majority classes (instance reduction, Wilson and Martinez 2000)."""
    return Recipe(resample=DuplicateRemoval(params.get("radius", 0.5), tuple(ctx.minority_classes)))
