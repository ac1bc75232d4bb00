"""Tiny splits of each modality, for this project's tests and for plugin authors' own.

``make_image_split``, ``make_text_split`` and ``make_tabular_split`` build small, learnable splits in
memory (no data files); ``TINY_SPLITS`` maps each modality to its builder and ``tiny_config()`` is a
two-epoch training setting small enough for two CPU cores. A plugin's test suite can use them to
run its method through the engines as ``tests/methods/test_method_conformance.py`` does here.
"""

from __future__ import annotations

import numpy as np

from benchmark.datasets.base import DataPart, Split
from benchmark.training.base import TrainingConfig


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def make_image_split(n_per_class=(40, 20, 8), size: int = 8, seed: int = 0) -> Split:
    """Three classes of 1x8x8 uint8 images whose class shows as a bright quadrant (learnable)."""
    rng = _rng(seed)

    def part(counts):
        xs, ys = [], []
        for c, n in enumerate(counts):
            x = rng.integers(0, 60, size=(n, 1, size, size))
            r, q = divmod(c, 2)
            x[:, :, r * size // 2 : (r + 1) * size // 2, q * size // 2 : (q + 1) * size // 2] += 150
            xs.append(x)
            ys.append(np.full(n, c))
        return DataPart(np.concatenate(xs).clip(0, 255).astype(np.uint8), np.concatenate(ys).astype(np.int64))

    val = tuple(max(2, n // 4) for n in n_per_class)
    return Split("tiny-image", "image", ["a", "b", "c"], part(n_per_class), part(val), part((10, 10, 10)))


TEXT_WORDS = {0: "meeting lunch home later tonight call okay thanks see you".split(),
              1: "free win prize claim cash urgent offer txt reply now".split()}


def make_text_split(n_train=(60, 12), seed: int = 0) -> Split:
    """Binary texts: ham-like and spam-like word bags (spam is the minority, class 1)."""
    rng = _rng(seed)

    def part(counts):
        texts, ys = [], []
        for c, n in enumerate(counts):
            for _ in range(n):
                words = list(rng.choice(TEXT_WORDS[c], size=6)) + list(rng.choice(TEXT_WORDS[1 - c], size=1))
                texts.append(" ".join(words))
                ys.append(c)
        return DataPart(np.array(texts, dtype=str), np.array(ys, dtype=np.int64))

    return Split("tiny-text", "text", ["ham", "spam"], part(n_train), part((20, 6)), part((20, 6)))


def make_tabular_split(n_train=(120, 20), nominal: bool = True, seed: int = 0) -> Split:
    """Binary tabular rows: 4 numeric features (shifted for the minority) and, optionally, one
    nominal feature with 3 integer-coded categories."""
    rng = _rng(seed)

    def part(counts):
        xs, ys = [], []
        for c, n in enumerate(counts):
            num = rng.normal(loc=1.5 * c, size=(n, 4))
            cols = [num]
            if nominal:
                cols.append(rng.integers(0, 3, size=(n, 1)).astype(float))
            xs.append(np.concatenate(cols, axis=1))
            ys.append(np.full(n, c))
        return DataPart(np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64))

    kinds = ["numeric"] * 4 + (["nominal"] if nominal else [])
    return Split("tiny-tabular", "tabular", ["negative", "positive"], part(n_train), part((40, 8)),
                 part((40, 8)), feature_kinds=kinds)


TINY_SPLITS = {"image": make_image_split, "text": make_text_split, "tabular": make_tabular_split}


def tiny_config() -> TrainingConfig:
    """Two quick epochs: enough to exercise every hook, small enough for 2 CI cores."""
    return TrainingConfig(epochs=2, batch_size=16, lr=3e-3, tfidf_max_features=200)
