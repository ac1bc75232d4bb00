"""Tiny splits of each modality, built in memory (no data files), small and learnable.

``TINY_SPLITS`` maps each modality to its main builder; :func:`tiny_splits` gives every tiny split
of a modality, each under its own dataset name (a three-class and a binary image split; one text
split; mixed numeric + nominal, numeric-only and nominal-only tabular splits), so that a method
that applies only to some kinds of data (binary tasks, nominal features) still meets one it fits.
"""

from __future__ import annotations

import numpy as np

from benchmark.datasets.base import DataPart, Split
from benchmark.datasets.unlabeled import unlabeled_record
from benchmark.errors import BenchmarkError
from benchmark.training.base import TrainingConfig


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def make_image_split(n_per_class=(40, 20, 8), size: int = 8, seed: int = 0,
                     n_unlabeled: tuple[int, ...] | None = (20, 10, 4)) -> Split:
    """Three classes of 1x8x8 uint8 images whose class shows as a bright quadrant (learnable), with an
    unlabeled pool of ``n_unlabeled`` images per class (features only, shuffled; None: no pool), so
    methods that learn from a pool have one to check on."""
    rng = _rng(seed)

    def part(counts, generator=rng):
        xs, ys = [], []
        for c, n in enumerate(counts):
            x = generator.integers(0, 60, size=(n, 1, size, size))
            r, q = divmod(c, 2)
            x[:, :, r * size // 2 : (r + 1) * size // 2, q * size // 2 : (q + 1) * size // 2] += 150
            xs.append(x)
            ys.append(np.full(n, c))
        return DataPart(np.concatenate(xs).clip(0, 255).astype(np.uint8), np.concatenate(ys).astype(np.int64))

    val = tuple(max(2, n // 4) for n in n_per_class)
    train, val_part, test = part(n_per_class), part(val), part((10, 10, 10))
    pool, info = None, {}
    if n_unlabeled:  # its own generator: the three parts are the same with or without a pool
        pool_rng = _rng(seed + 1000)
        pool = part(n_unlabeled, pool_rng).X[pool_rng.permutation(sum(n_unlabeled))]  # class order hidden
        info["unlabeled"] = unlabeled_record(
            pool, class_mix="long-tail", ratio=sum(n_unlabeled) / sum(n_per_class), class_counts=list(n_unlabeled),
            source="images drawn like the training images, labels withheld")
    return Split("tiny-image", "image", ["a", "b", "c"], train, val_part, test, info=info, unlabeled=pool)


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
    name = "tiny-tabular" if nominal else "tiny-tabular-numeric"  # distinct names: results are keyed by them
    return Split(name, "tabular", ["negative", "positive"], part(n_train), part((40, 8)),
                 part((40, 8)), feature_kinds=kinds)


def make_binary_image_split(n_per_class=(40, 8), size: int = 8, seed: int = 1) -> Split:
    """Two classes of 1x8x8 uint8 images (a bright top or bottom half), for binary-only methods."""
    rng = _rng(seed)

    def part(counts):
        xs, ys = [], []
        for c, n in enumerate(counts):
            x = rng.integers(0, 60, size=(n, 1, size, size))
            x[:, :, c * size // 2 : (c + 1) * size // 2, :] += 120
            xs.append(x)
            ys.append(np.full(n, c))
        return DataPart(np.concatenate(xs).clip(0, 255).astype(np.uint8), np.concatenate(ys).astype(np.int64))

    return Split("tiny-image-binary", "image", ["a", "b"], part(n_per_class), part((10, 4)), part((10, 6)))


def make_nominal_split(n_train=(90, 18), seed: int = 2) -> Split:
    """Binary rows of four nominal features (codes 0..2), the minority leaning to code 2."""
    rng = _rng(seed)

    def part(counts):
        xs = [rng.choice(3, size=(n, 4), p=[0.5, 0.3, 0.2] if c == 0 else [0.2, 0.3, 0.5]) for c, n in enumerate(counts)]
        ys = [np.full(n, c) for c, n in enumerate(counts)]
        return DataPart(np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64))

    return Split("tiny-nominal", "tabular", ["negative", "positive"], part(n_train), part((30, 6)), part((30, 6)),
                 feature_kinds=["nominal"] * 4)


TINY_SPLITS = {"image": make_image_split, "text": make_text_split, "tabular": make_tabular_split}

# Every tiny split of each modality, in the order the checks try them.
ALL_TINY_SPLITS = {
    "image": (make_image_split, make_binary_image_split),
    "text": (make_text_split,),
    "tabular": (make_tabular_split, lambda: make_tabular_split(nominal=False), make_nominal_split),
}


def tiny_splits(modality: str) -> list[Split]:
    """Every tiny split of ``modality``, each with its own dataset name."""
    if modality not in ALL_TINY_SPLITS:
        raise BenchmarkError(f"there are no tiny splits of modality {modality!r}",
                             f"use one of {', '.join(ALL_TINY_SPLITS)}")
    splits = [make() for make in ALL_TINY_SPLITS[modality]]
    names = [s.dataset for s in splits]
    if len(set(names)) != len(names):  # results and "not applicable" answers are keyed by the name
        raise BenchmarkError(f"tiny splits of {modality} share a name: {names}", "give each tiny split its own name")
    return splits


def tiny_config() -> TrainingConfig:
    """Two quick epochs: enough to exercise every hook, small enough for 2 CI cores."""
    return TrainingConfig(epochs=2, batch_size=16, lr=3e-3, tfidf_max_features=200)
