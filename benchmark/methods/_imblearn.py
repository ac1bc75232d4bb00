"""The adapter from imbalanced-learn's samplers to the ``resample`` hook, and the search-space helpers
the resampling rows (and the ensembles, embedding SMOTE and EOS's comparison rows) share.

Images are resampled in pixel space (flattened, resampled, rounded back to uint8 and reshaped), the
usual way SMOTE is applied to images when no feature extractor is trained first; text in the featuriser's space (TF-IDF); tabular rows on standardised
numeric features with nominal columns kept as integer codes (what SMOTENC and SMOTEN need).
Validation and test rows never reach a sampler: the engines call it on training rows only. On
large dense data the neighbour searches run with torch on the device
(:mod:`benchmark.methods._nearest_neighbours`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from benchmark.errors import BenchmarkError
from benchmark.methods._nearest_neighbours import NeighbourSearch
from benchmark.methods.base import MethodContext

if TYPE_CHECKING:
    from benchmark.datasets.base import Split


class ImblearnResampler:
    """Adapts any imbalanced-learn sampler (``fit_resample``) to the ``resample`` hook.

    ``make_sampler(seed, knn)`` returns a fresh sampler with ``random_state=seed``; ``knn(k, extra)``
    gives its neighbour argument (an integer, or a torch estimator on large data).
    """

    space = "features"

    def __init__(self, name: str, make_sampler: Callable[[int, NeighbourSearch], Any], *, dense: bool = False):
        self.name = name
        self.make_sampler = make_sampler
        self.dense = dense  # the sampler breaks on sparse input (imbalanced-learn bug): densify first

    def resample(self, X: Any, y: np.ndarray, seed: int) -> tuple[Any, np.ndarray]:
        y = np.asarray(y)
        if isinstance(X, np.ndarray) and X.ndim > 2:  # images: pixel space
            shape, dtype = X.shape[1:], X.dtype
            flat = X.reshape(len(X), -1).astype(np.float32)
            X_res, y_res = self._fit_resample(flat, y, seed)
            X_res = np.asarray(X_res)
            if dtype == np.uint8:
                X_res = np.clip(np.rint(X_res), 0, 255)
            return X_res.astype(dtype).reshape(len(X_res), *shape), np.asarray(y_res, dtype=np.int64)
        X_res, y_res = self._fit_resample(X, y, seed)
        if isinstance(X, np.ndarray):  # centroids and synthetic rows may come back as float64
            X_res = np.asarray(X_res, dtype=X.dtype)
        return X_res, np.asarray(y_res, dtype=np.int64)

    def _fit_resample(self, X: Any, y: np.ndarray, seed: int) -> tuple[Any, np.ndarray]:
        if self.dense and sp.issparse(X):
            X = X.toarray()
        sampler = self.make_sampler(seed, NeighbourSearch.for_data(X))
        try:
            return sampler.fit_resample(X, y)
        except (ValueError, RuntimeError) as exc:  # imbalanced-learn's own checks: name the sampler and data
            counts = np.bincount(y).tolist()
            raise BenchmarkError(
                f"{self.name} failed on {X.shape[0]} training rows with class counts {counts}: {exc}",
                "this configuration does not fit the data; other trials of the study may still succeed",
            ) from exc


# -- search-space helpers: every bound comes from the training counts ----------------------------------
def smallest_class(ctx: MethodContext) -> int:
    """The smallest non-empty training class: a k-neighbour search inside it needs k < this."""
    return min(c for c in ctx.class_counts if c > 0)


def binary_ratio(trial, ctx: MethodContext, name: str = "sampling_strategy") -> Any:
    """Binary tasks tune the minority/majority ratio after resampling; multi-class balances fully."""
    if ctx.num_classes == 2:
        low = min(1.0, max(ctx.class_counts[1] / max(ctx.class_counts[0], 1) + 0.05, 0.2))
        return trial.suggest_float(name, low, 1.0)
    return "auto"


def neighbours(trial, ctx: MethodContext, name: str = "k_neighbors", high: int = 10) -> int:
    """k for a neighbour search inside a class, bounded by the smallest class of the training split."""
    return trial.suggest_int(name, 1, max(1, min(high, smallest_class(ctx) - 1)))


def needs_two_per_class(split: Split) -> str | None:
    """``applies_to`` of the neighbour-based samplers: each class needs a neighbour of its own kind."""
    counts = split.class_counts("train")
    if min(c for c in counts if c > 0) < 2:
        return f"the training split has a class with one sample (class counts {counts}); neighbour-based samplers need two"
    return None


def smote_space(trial, ctx: MethodContext) -> dict:
    """SMOTE's parameters: the balance and k, bounded by the smallest training class."""
    return {"sampling_strategy": binary_ratio(trial, ctx), "k_neighbors": neighbours(trial, ctx)}
