"""What a dataset's card knows without its data (:class:`CardStats`), and the split sizes that follow from it.

The card of a registered dataset states its class counts (every row of a table or text collection; the
long-tailed pool and the official test set of a long-tail image set), its input shape and its unlabeled
pool. :func:`card_split_sizes` applies the hold-out rule of the splits to those counts
(:func:`benchmark.protocol.holdout_count` per class, at :func:`benchmark.protocol.holdout_fractions`), so a
plan can count a dataset whose files are absent; the counts equal the loaded split's wherever the source
holds no duplicate rows (a split groups duplicates into one part, which can move a few rows).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from benchmark.datasets.split import DataPart, Split
from benchmark.protocol import holdout_count


@dataclass(frozen=True)
class CardStats(Mapping):
    """A dataset's size, class counts, imbalance ratio and input shape, known without loading the data.

    Read it by attribute; it is also the mapping a card shows (``stats["class_counts"]``), with the
    sizes derived from the counts (``samples``, ``long_tail_size``, ``test_size``)."""

    class_counts: tuple[int, ...] = ()  # every row per class: tables and texts, split into test, val, train
    long_tail_counts: tuple[int, ...] = ()  # long-tail image sets: the pool per class, split into val, train
    test_counts: tuple[int, ...] = ()  # long-tail image sets: the official test set per class
    imbalance_ratio: float | None = None
    features: int | None = None  # tables: columns
    nominal_features: int | None = None
    input_shape: tuple[int, ...] | None = None  # images: (C, H, W)
    unlabeled: dict[str, Any] | None = None  # the unlabeled pool as expected (:func:`expected_unlabeled`)
    extra: dict[str, Any] = field(default_factory=dict)  # other facts a card states (pool size, how counted)

    @classmethod
    def from_mapping(cls, stats: Mapping[str, Any]) -> CardStats:
        """The record of a plugin's ``stats`` dict: known keys to their fields, the rest kept as they are."""
        if isinstance(stats, CardStats):
            return stats
        known = {f.name for f in fields(cls)} - {"extra"}
        values: dict[str, Any] = {k: v for k, v in stats.items() if k in known}
        for name in ("class_counts", "long_tail_counts", "test_counts", "input_shape"):
            if values.get(name) is not None:
                values[name] = tuple(int(n) for n in values[name])
        derived = {"samples": "class_counts", "long_tail_size": "long_tail_counts", "test_size": "test_counts"}
        extra = {k: v for k, v in stats.items() if k not in known and not (k in derived and derived[k] in values)}
        return cls(**values, extra=extra)

    def record(self) -> dict[str, Any]:
        """The card's statistics as JSON-ready values (lists, not tuples), with the derived sizes."""
        out: dict[str, Any] = {}
        if self.class_counts:
            out.update(samples=sum(self.class_counts), class_counts=list(self.class_counts))
        if self.long_tail_counts:
            out.update(long_tail_counts=list(self.long_tail_counts), long_tail_size=sum(self.long_tail_counts))
        if self.test_counts:
            out.update(test_counts=list(self.test_counts), test_size=sum(self.test_counts))
        for name in ("imbalance_ratio", "features", "nominal_features", "input_shape", "unlabeled"):
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value) if name == "input_shape" else value
        return {**out, **self.extra}

    def __getitem__(self, key: str) -> Any:
        return self.record()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.record())

    def __len__(self) -> int:
        return len(self.record())


def count_stats(counts: list[int], **more: Any) -> CardStats:
    """Card statistics of a dataset whose class counts are known: counts, imbalance ratio and ``more``."""
    return CardStats.from_mapping({"class_counts": counts, "imbalance_ratio": round(max(counts) / min(counts), 2),
                                   **more})


@dataclass(frozen=True)
class SplitSizes:
    """Rows per class of each part of a split, as its card predicts them."""

    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]

    def rows(self, part: str) -> int:
        return sum(getattr(self, part))


def card_split_sizes(stats: CardStats, test_fraction: float, val_fraction: float) -> SplitSizes | None:
    """The split's class counts from the card: a long-tail pool loses the validation share of each class
    (its test set is the official one); a table or text loses the test share, then the validation share
    of the rest. None when the card gives no class counts."""
    if stats.long_tail_counts:
        rest, test = list(stats.long_tail_counts), tuple(stats.test_counts)
    elif stats.class_counts:
        held = [holdout_count(n, test_fraction) for n in stats.class_counts]
        rest, test = [n - h for n, h in zip(stats.class_counts, held, strict=True)], tuple(held)
    else:
        return None
    val = [holdout_count(n, val_fraction) for n in rest]
    return SplitSizes(tuple(n - v for n, v in zip(rest, val, strict=True)), tuple(val), test)


def card_input_shape(stats: CardStats, modality: str) -> tuple[int, ...] | None:
    """One row's shape from the card: an image's (C, H, W), a table's columns; None where the card lacks
    it (a text row is one string)."""
    if modality == "image":
        return tuple(stats.input_shape) if stats.input_shape else None
    if modality == "tabular":
        return (int(stats.features),) if stats.features else None
    return (1,)


def card_split(name: str, modality: str, class_names: list[str], stats: CardStats, sizes: SplitSizes) -> Split:
    """A split with the card's class counts whose inputs are zeros that are never materialised
    (broadcast): what counting and the methods' ``applies_to`` need of a dataset whose files are absent."""
    shape = card_input_shape(stats, modality) or (1,) * (3 if modality == "image" else 1)
    dtype = np.uint8 if modality == "image" else np.float32

    def part(counts: tuple[int, ...]) -> DataPart:
        y = np.repeat(np.arange(len(counts)), counts).astype(np.int64)
        return DataPart(np.broadcast_to(np.zeros((1, *shape), dtype=dtype), (len(y), *shape)), y)

    nominal = int(stats.nominal_features or 0)
    kinds = (["nominal"] * nominal + ["numeric"] * (shape[0] - nominal)) if modality == "tabular" else None
    split = Split(name, modality, class_names, part(sizes.train), part(sizes.val), part(sizes.test),
                  feature_kinds=kinds, info={"card": True})
    pool = stats.unlabeled or {}
    if pool.get("size"):  # the card's unlabeled pool (semi-supervised rows)
        split.info["unlabeled"] = pool
        split.unlabeled = part((int(pool["size"]),)).X
    return split
