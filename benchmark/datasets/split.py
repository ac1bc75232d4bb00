"""The split a dataset produces (:class:`Split`: train / validation / test parts), the one hold-out rule of
tables, texts and file datasets (:func:`holdout_split`), and the split's cache file format.

A cache file is one ``.npz`` (read with ``allow_pickle=False``: nothing in it can execute) holding the
arrays, a JSON ``meta`` record (with the cache key the entry was built for) and a ``checksum``: the SHA-256
of the meta record and every array's name, dtype, shape and bytes. :meth:`Split.load` refuses a file whose
content does not match its checksum (an edited or damaged entry) or whose key is not the one asked for,
so an entry is never trusted on its file name alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.datasets.unlabeled import unlabeled_record
from benchmark.errors import BenchmarkError
from benchmark.protocol import duplicate_groups, duplicate_summary, holdout_fractions, stratified_holdout
from benchmark.protocol import minority_classes as default_minority_classes

PARTS = ("train", "val", "test")


class CacheEntryMismatch(ValueError):
    """A split cache file that is not what it claims to be (checksum, format or key): rebuilt, never served."""


def standard_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major strides (in elements) of ``shape``, size-1 axes included."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def standard_layout(array: Any) -> Any:
    """``array`` with row-major strides on every axis. NumPy gives a size-1 axis any stride (``images[:, None]``
    indexed by rows: channel stride 1), and torch reads such (N, 1, H, W) images as channels-last and runs
    another convolution kernel on them (last-digit differences), so a freshly built split and the same
    split read back from the cache (standard strides) would score differently (the deep engine also
    lays its inputs out this way: ``benchmark.training.base.model_input``)."""
    if not isinstance(array, np.ndarray) or array.ndim < 2 or array.strides == tuple(
            array.itemsize * s for s in standard_strides(array.shape)):
        return array
    return np.array(array, order="C")  # a fresh copy: standard strides


@dataclass
class DataPart:
    """One part of a split. ``X``: images (N, C, H, W) uint8, tabular (N, D) float32, text (N,) str."""

    X: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def counts(self, num_classes: int) -> list[int]:
        return np.bincount(self.y, minlength=num_classes).tolist()


def content_digest(meta_text: str, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of a cache entry: its meta record and each array's name, dtype, shape and bytes."""
    h = hashlib.sha256(meta_text.encode())
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        h.update(f"|{name}:{arr.dtype.str}:{arr.shape}|".encode())
        h.update(arr.reshape(-1).view(np.uint8))
    return h.hexdigest()


@dataclass
class Split:
    """Train / validation / test parts of one dataset, with what metrics and reports need.

    ``unlabeled`` is the dataset's unlabeled pool, when it exposes one: features only, in the format
    of ``train.X`` (images (M, C, H, W) uint8), rows that are in no part of the split and whose labels
    the split does not hold (``info["unlabeled"]`` describes it: :func:`unlabeled_record`). It is not
    part of :meth:`fingerprint`, which stored results are keyed by."""

    dataset: str
    modality: str
    class_names: list[str]
    train: DataPart
    val: DataPart
    test: DataPart
    minority_classes: list[int] = field(default_factory=list)
    feature_kinds: list[str] | None = None  # tabular: "numeric" or "nominal" per column
    info: dict[str, Any] = field(default_factory=dict)
    unlabeled: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.minority_classes:
            self.minority_classes = default_minority_classes(self.class_counts("train"))
        if self.unlabeled is not None:
            self._check_unlabeled()

    def _check_unlabeled(self) -> None:
        pool, train = self.unlabeled, self.train.X
        if not isinstance(pool, np.ndarray) or pool.shape[1:] != train.shape[1:] or pool.dtype.kind != train.dtype.kind:
            shape = getattr(pool, "shape", type(pool).__name__)
            raise BenchmarkError(
                f"the unlabeled pool of '{self.dataset}' has shape {shape} and dtype "
                f"{getattr(pool, 'dtype', '?')}, but its training rows have shape {train.shape} and dtype {train.dtype}",
                "give the pool's features in the format of split.train.X (features only, no labels)")
        if "unlabeled" not in self.info:  # a pool given without its record (tests, plugins): describe what is known
            self.info["unlabeled"] = unlabeled_record(pool, class_mix="unknown", source="given with the split")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def part(self, name: str) -> DataPart:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def class_counts(self, part: str = "train") -> list[int]:
        return self.part(part).counts(self.num_classes)

    @property
    def imbalance_ratio(self) -> float:
        counts = [c for c in self.class_counts("train") if c > 0]
        return max(counts) / min(counts)

    def fingerprint(self) -> str:
        """SHA-256 over every array of the split: equal splits have equal fingerprints."""
        h = hashlib.sha256()
        for name in PARTS:
            part = self.part(name)
            for arr in (part.X, part.y):
                arr = np.ascontiguousarray(arr)
                h.update(f"{name}:{arr.dtype.str}:{arr.shape}".encode())
                h.update(arr.tobytes())
        return h.hexdigest()

    def summary(self) -> dict[str, Any]:
        """What a card shows of the split: counts per part, imbalance, fingerprint and the split's info
        (with the unlabeled pool's record, never its rows)."""
        return {
            "dataset": self.dataset,
            "modality": self.modality,
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "class_counts": {p: self.class_counts(p) for p in PARTS},
            "imbalance_ratio": round(self.imbalance_ratio, 3),
            "minority_classes": self.minority_classes,
            "feature_kinds": self.feature_kinds,
            "fingerprint": self.fingerprint(),
            **self.info,
        }

    # -- cache format: one .npz (no pickles): the arrays, a JSON meta record and their checksum --
    def save(self, path: Path, key: dict[str, Any] | None = None) -> None:
        """Write the split to ``path`` (atomically), recording ``key`` (the cache key it answers) and the
        checksum of its content."""
        arrays = {f"{p}_{a}": getattr(self.part(p), a) for p in PARTS for a in ("X", "y")}
        if self.unlabeled is not None:
            arrays["unlabeled_X"] = self.unlabeled
        meta = json.dumps({"dataset": self.dataset, "modality": self.modality, "class_names": self.class_names,
                           "minority_classes": self.minority_classes, "feature_kinds": self.feature_kinds,
                           "info": self.info, "key": key}, sort_keys=True, default=str)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file and rename, so a crash never leaves a half-written cache entry.
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
            try:
                np.savez(tmp, meta=np.array(meta), checksum=np.array(content_digest(meta, arrays)), **arrays)
            except BaseException:
                tmp.close()
                os.unlink(tmp.name)
                raise
        os.chmod(tmp.name, 0o644)  # temporary files are private; a split cache may be shared
        os.replace(tmp.name, path)

    @classmethod
    def load(cls, path: Path, key: dict[str, Any] | None = None) -> Split:
        """Read a split written by :meth:`save`; :class:`CacheEntryMismatch` when its content does not match
        its checksum or (given ``key``) it was built for another key."""
        with np.load(path, allow_pickle=False) as data:
            if "meta" not in data.files or "checksum" not in data.files:
                raise CacheEntryMismatch("not a split cache entry of this version (no meta record or checksum)")
            meta_text = str(data["meta"])
            arrays = {name: data[name] for name in data.files if name not in ("meta", "checksum")}
            if content_digest(meta_text, arrays) != str(data["checksum"]):
                raise CacheEntryMismatch("its content does not match its recorded checksum (edited or damaged)")
        meta = json.loads(meta_text)
        if key is not None and meta.get("key") != json.loads(json.dumps(key, sort_keys=True, default=str)):
            raise CacheEntryMismatch("it was built for another dataset entry, split seed or source files")
        return cls(
            dataset=meta["dataset"], modality=meta["modality"], class_names=meta["class_names"],
            minority_classes=meta["minority_classes"], feature_kinds=meta["feature_kinds"], info=meta["info"],
            unlabeled=arrays.get("unlabeled_X"),
            **{p: DataPart(arrays[f"{p}_X"], arrays[f"{p}_y"]) for p in PARTS},
        )


def duplicates_record(groups: np.ndarray, y: np.ndarray, *, compared: str = "rows equal in every value",
                      removed_from_training: int | None = None) -> dict[str, Any]:
    """The ``duplicates`` entry of a split's info (shown on the dataset card and in ``Split.summary()``):
    how many duplicates were found among the rows split (see :func:`benchmark.protocol.duplicate_summary`),
    what was compared, and how many training rows equal to a test row were removed (official test sets)."""
    record: dict[str, Any] = {**duplicate_summary(groups, y), "compared": compared,
                              "policy": "grouped: each group of duplicates lies in one part of the split"}
    if removed_from_training is not None:
        record["removed_from_training"] = int(removed_from_training)
    return record


def holdout_split(name: str, modality: str, request: Any, X: np.ndarray, y: np.ndarray, class_names: list[str],
                  *, info: dict[str, Any], feature_kinds: list[str] | None = None,
                  compared: str = "rows equal in every value", groups: np.ndarray | None = None) -> Split:
    """The split of every dataset without an official test set (tables, texts, file datasets): a
    stratified test hold-out with the natural imbalance, then a stratified validation share of the rest,
    at the fractions of :func:`benchmark.protocol.holdout_fractions`; duplicate rows (``groups``, by
    default :func:`benchmark.protocol.duplicate_groups` of ``X``) grouped so that a group lies in one part.
    ``request`` is the builder's :class:`~benchmark.datasets.base.LoadRequest` (its parameters and seeds)."""
    test_fraction, val_fraction = holdout_fractions(modality, request.params)
    groups = duplicate_groups(X) if groups is None else groups
    rest, test = stratified_holdout(y, test_fraction, request.rng("test"), what="test", groups=groups)
    train, val = stratified_holdout(y[rest], val_fraction, request.rng("validation"), groups=groups[rest])
    train, val = rest[train], rest[val]
    info = {**info, "duplicates": duplicates_record(groups, y, compared=compared)}
    return Split(name, modality, class_names, DataPart(X[train], y[train]), DataPart(X[val], y[val]),
                 DataPart(X[test], y[test]), feature_kinds=feature_kinds, info=info)
