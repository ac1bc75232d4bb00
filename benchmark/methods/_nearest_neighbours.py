"""Exact k-nearest-neighbour search with torch, for imbalanced-learn's samplers on large data.

imbalanced-learn's neighbour-based samplers (SMOTE and its family, ADASYN, ENN, NearMiss, ...) accept
an estimator object with ``kneighbors`` and ``kneighbors_graph`` in place of an integer k. On large
dense data (images in pixel space, dense TF-IDF) scikit-learn's brute-force search on the CPU is the
slowest step of a resampling run; :class:`TorchNearestNeighbors` does the same exact Euclidean search
as blocked matrix products and ``topk`` on the device (docs/performance.md, 'GPU nearest-neighbour
search'). :class:`NeighbourSearch` picks the backend for a sampler by the data's size, so
small tabular data keeps imbalanced-learn's own estimator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator

from benchmark.errors import BenchmarkError

# Dense data with at least this many cells (rows x features) is searched with torch on the device.
DEVICE_SEARCH_MIN_CELLS = 2_000_000
# Cells per block of queries: keeps each block's float32 work arrays near 256 MB.
BLOCK_CELLS = 64_000_000


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class TorchNearestNeighbors(BaseEstimator):
    """Exact Euclidean k-nearest neighbours with the ``sklearn.neighbors.NearestNeighbors`` interface
    that imbalanced-learn uses (``fit``, ``kneighbors``, ``kneighbors_graph``, ``n_neighbors``).

    Candidates come from squared distances ``|q|^2 - 2 q.x + |x|^2`` (one matrix product per block of
    queries, on data centred by the training mean to keep float32 cancellation small); the distances
    returned are recomputed exactly for the k chosen rows.
    """

    def __init__(self, n_neighbors: int = 5, device: str | None = None, n_jobs: int | None = None):
        self.n_neighbors = n_neighbors
        self.device = device
        self.n_jobs = n_jobs  # accepted because imbalanced-learn sets it; the device decides parallelism

    def fit(self, X: Any, y: Any = None) -> TorchNearestNeighbors:
        dense = _dense(X)
        self.device_ = torch.device(self.device or default_device())
        data = torch.as_tensor(dense, dtype=torch.float32, device=self.device_)
        self.mean_ = data.mean(dim=0, keepdim=True)
        self.fit_X_ = data - self.mean_
        self.sq_norms_ = (self.fit_X_ * self.fit_X_).sum(dim=1)
        self.n_samples_fit_ = data.shape[0]
        return self

    @torch.no_grad()
    def kneighbors(self, X: Any = None, n_neighbors: int | None = None, return_distance: bool = True):
        """The ``n_neighbors`` nearest training rows of each query row, nearest first. Without ``X``
        the queries are the training rows and each row is not its own neighbour (as scikit-learn)."""
        k = int(n_neighbors or self.n_neighbors)
        exclude_self = X is None
        available = self.n_samples_fit_ - (1 if exclude_self else 0)
        if k > available:
            raise BenchmarkError(
                f"{k} nearest neighbours were asked for, but only {available} candidate rows exist",
                "lower the sampler's number of neighbours below the size of the smallest class",
            )
        queries = self.fit_X_ if exclude_self else (
            torch.as_tensor(_dense(X), dtype=torch.float32, device=self.device_) - self.mean_)
        # both the distance block (rows x training rows) and the exact recompute (rows x k x D) stay bounded
        block = max(1, BLOCK_CELLS // max(self.n_samples_fit_, k * self.fit_X_.shape[1], 1))
        dists, idxs = [], []
        for start in range(0, queries.shape[0], block):
            q = queries[start : start + block]
            d2 = (q * q).sum(dim=1, keepdim=True) - 2.0 * (q @ self.fit_X_.T) + self.sq_norms_
            if exclude_self:
                rows = torch.arange(q.shape[0], device=self.device_)
                d2[rows, rows + start] = float("inf")
            cand = torch.topk(d2, k, dim=1, largest=False, sorted=False).indices
            # The expanded form loses digits to cancellation; distances of the k chosen rows are
            # recomputed from differences (k x D per query, cheap), then sorted.
            exact = (q.unsqueeze(1) - self.fit_X_[cand]).square_().sum(dim=2).sqrt_()
            exact, order = exact.sort(dim=1)
            dists.append(exact)
            idxs.append(cand.gather(1, order))
        indices = torch.cat(idxs).cpu().numpy().astype(np.int64)
        if not return_distance:
            return indices
        return torch.cat(dists).cpu().numpy().astype(np.float64), indices

    def kneighbors_graph(self, X: Any = None, n_neighbors: int | None = None, mode: str = "connectivity"):
        """Sparse (queries x training rows) graph of the neighbours: ones, or distances for mode="distance"."""
        if mode not in ("connectivity", "distance"):
            raise BenchmarkError(f"kneighbors_graph mode {mode!r} is unknown", "use 'connectivity' or 'distance'")
        dist, ind = self.kneighbors(X, n_neighbors, return_distance=True)
        n_queries, k = ind.shape
        values = np.ones(n_queries * k) if mode == "connectivity" else dist.ravel()
        indptr = np.arange(0, n_queries * k + 1, k)
        return sp.csr_matrix((values, ind.ravel(), indptr), shape=(n_queries, self.n_samples_fit_))


def _dense(X: Any) -> np.ndarray:
    if sp.issparse(X):
        X = X.toarray()
    X = np.asarray(X)
    if X.ndim != 2:
        raise BenchmarkError(f"nearest-neighbour search got data of shape {X.shape}", "flatten rows to 2-D first")
    return X


class NeighbourSearch:
    """Gives a sampler its neighbour argument: imbalanced-learn's integer k (scikit-learn search) on
    small or sparse data, a :class:`TorchNearestNeighbors` on large dense data.

    imbalanced-learn adds ``extra`` neighbours to an integer k itself (the query row is its own first
    neighbour in SMOTE, ENN, ...); an estimator object is used as given, so it gets ``k + extra``.
    """

    def __init__(self, use_torch: bool, device: str | None = None):
        self.use_torch = use_torch
        self.device = device

    @classmethod
    def for_data(cls, X: Any, device: str | None = None) -> NeighbourSearch:
        large = bool(not sp.issparse(X) and np.prod(np.shape(X)) >= DEVICE_SEARCH_MIN_CELLS)
        return cls(large, device)

    def __call__(self, k: int, extra: int = 1) -> int | TorchNearestNeighbors:
        if self.use_torch:
            return TorchNearestNeighbors(n_neighbors=k + extra, device=self.device)
        return k
