"""Featurisers: the fixed map from a split's raw rows to the numbers a model (or a sampler) sees.

They are fitted on the training rows only (after any input-space resampling), then applied to
validation and test rows. Feature-space samplers (SMOTE and friends) act on their output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmark.errors import BenchmarkError


@dataclass
class InputSpec:
    """What a backbone is built for: the feature shape and, for tabular data, the nominal columns."""

    modality: str
    shape: tuple[int, ...]
    nominal_cardinalities: dict[int, int] | None = None


class ImageFeatures:
    """Images stay uint8 (N, C, H, W); the engine normalises them batch by batch on the device."""

    def fit(self, X: np.ndarray) -> ImageFeatures:
        if X.ndim != 4 or X.dtype != np.uint8:
            raise BenchmarkError(
                f"image data has dtype {X.dtype} and shape {X.shape}", "image loaders must give uint8 (N, C, H, W)"
            )
        self.spec = InputSpec("image", tuple(X.shape[1:]))
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return X


class TabularFeatures:
    """Numeric columns standardised with training statistics; nominal columns keep integer codes
    (so SMOTENC/SMOTEN see categories, and networks one-hot encode them). Missing values (NaN) are
    imputed with the training mean (numeric) or most frequent code (nominal)."""

    def __init__(self, feature_kinds: list[str] | None):
        self.feature_kinds = feature_kinds

    def fit(self, X: np.ndarray) -> TabularFeatures:
        X = np.asarray(X, dtype=np.float64)
        kinds = self.feature_kinds or ["numeric"] * X.shape[1]
        self.numeric = np.array([k == "numeric" for k in kinds])
        with np.errstate(all="ignore"):
            mean = np.nan_to_num(np.nanmean(X, axis=0)) if X.size else np.zeros(X.shape[1])
            std = np.nan_to_num(np.nanstd(X, axis=0))
        modes = [_mode(X[:, j]) for j in range(X.shape[1])]
        self.fill = np.where(self.numeric, mean, modes)
        self.mean = np.where(self.numeric, mean, 0.0)
        self.std = np.where(self.numeric & (std > 0), std, 1.0)
        cards = {int(j): int(np.nanmax(X[:, j], initial=0)) + 1 for j in np.flatnonzero(~self.numeric)}
        self.spec = InputSpec("tabular", (X.shape[1],), cards or None)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        X = np.where(np.isnan(X), self.fill, X)
        return ((X - self.mean) / self.std).astype(np.float32)


def _mode(column: np.ndarray) -> float:
    values = column[~np.isnan(column)]
    if values.size == 0:
        return 0.0
    uniques, counts = np.unique(values, return_counts=True)
    return float(uniques[np.argmax(counts)])


class TfidfFeatures:
    """TF-IDF of word unigrams and bigrams (scikit-learn), dense float32 for networks."""

    def __init__(self, max_features: int, dense: bool = True):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(max_features=max_features, ngram_range=(1, 2), sublinear_tf=True, min_df=1)
        self.dense = dense

    def fit(self, X: np.ndarray) -> TfidfFeatures:
        self.vectorizer.fit([str(t) for t in X])
        self.spec = InputSpec("text", (len(self.vectorizer.vocabulary_),))
        return self

    def transform(self, X: np.ndarray) -> Any:
        out = self.vectorizer.transform([str(t) for t in X]).astype(np.float32)
        return out.toarray() if self.dense else out


def make_featurizer(modality: str, config: Any, feature_kinds: list[str] | None = None, *, dense: bool = True):
    if modality == "image":
        return ImageFeatures()
    if modality == "tabular":
        return TabularFeatures(feature_kinds)
    if modality == "text":
        if config.text_features == "tfidf":
            return TfidfFeatures(config.tfidf_max_features, dense=dense)
        raise BenchmarkError(f"text features {config.text_features!r} are unknown", "use 'tfidf'")
    raise BenchmarkError(f"modality {modality!r} is unknown", "use image, text or tabular")
