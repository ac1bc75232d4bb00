"""The unlabeled pool: rows a dataset offers without their labels, for self- and semi-supervised rows.

A long-tail vision dataset is drawn from a balanced official training set, so the images its
long-tail profile left out are a natural pool of real, in-distribution, unlabeled images (Yang & Xu,
"Rethinking the Value of Labels for Improving Class-Imbalanced Learning", NeurIPS 2020, draw theirs
from other sources with the same classes). The pool never holds a validation or test image, nor any
image identical (pixel for pixel) to a training, validation or test image; its rows are shuffled, so
their order says nothing of their classes, and the :class:`~benchmark.datasets.base.Split` holds their
features only. Its class mix is a dataset parameter (``unlabeled_mix``), so a user can see how much a
gain depends on it:

- ``long-tail`` (default, as Yang & Xu): class c gets min(left_c, round(ratio * n_c)) images, n_c the
  class's labelled long-tail count (training + validation) and left_c its left-out images: the pool
  follows the labelled profile, ``ratio`` times its size, except where a class has too few images left
  (the card says which classes are capped; Fashion-MNIST-LT's head class, n_max = 6,000, is the whole
  class and has none left).
- ``uniform``: the same count for every class, round(ratio * N / C) with N the labelled long-tail size
  and C the classes (the pool as large as under ``long-tail``), lowered to the fewest left-out images
  of any class so the mix stays exactly uniform; a dataset whose head class is used whole has no
  uniform pool (size 0, with a note; pool methods are then not applicable).
- ``all``: every left-out image (``ratio`` unused).
- ``none``: no pool.

``ratio`` defaults to 5: Yang & Xu's unlabeled sets are five times the labelled set
(``unlabel_size_factor = 5`` in ``dataset/imbalance_cifar.py`` and ``dataset/imbalance_svhn.py`` of
github.com/YyzHarry/imbalanced-semi-self, the "D_U@5x" rows of their tables). Their unlabeled profile
is the labelled one rescaled to 5x in total; with the same profile this is 5 * n_c per class, which
``long-tail`` draws wherever the source has that many images left.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmark.errors import BenchmarkError
from benchmark.protocol import rows_in, subsample_per_class

UNLABELED_MIXES = {
    "long-tail": "per class min(left-out images, round(ratio x its labelled long-tail count)): the labelled profile",
    "uniform": "the same count per class, round(ratio x labelled size / classes), at most the fewest left-out "
               "images of any class",
    "all": "every left-out image",
    "none": "no unlabeled pool",
}
DEFAULT_MIX = "long-tail"
DEFAULT_RATIO = 5.0  # Yang & Xu 2020: unlabel_size_factor = 5 (see the module docstring)


def array_digest(X: np.ndarray) -> str:
    """SHA-256 over an array's dtype, shape and bytes."""
    arr = np.ascontiguousarray(X)
    h = hashlib.sha256(f"{arr.dtype.str}:{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def unlabeled_record(X: np.ndarray, *, class_mix: str, source: str, ratio: float | None = None,
                     class_counts: list[int] | None = None, **more: Any) -> dict[str, Any]:
    """The ``unlabeled`` entry of a split's info (``Split.info["unlabeled"]``): the pool's size, how its
    class mix was drawn (``class_mix``, ``ratio``), its per-class counts as known when it was built (for
    the card only: the split holds no label of a pool row), where its rows come from and the SHA-256 of
    its array."""
    return {"size": int(len(X)), "class_mix": class_mix, "ratio": ratio,
            "class_counts": None if class_counts is None else [int(c) for c in class_counts],
            "source": source, "fingerprint": array_digest(X), **more}


def check_unlabeled_params(mix: Any, ratio: Any, dataset: str) -> None:
    """``unlabeled_mix`` must be one of :data:`UNLABELED_MIXES`; ``unlabeled_ratio`` a positive number
    for ``long-tail`` and ``uniform``."""
    if mix not in UNLABELED_MIXES:
        raise BenchmarkError(f"dataset '{dataset}' has unlabeled_mix={mix!r}",
                             f"use one of {', '.join(UNLABELED_MIXES)}")
    if mix in ("long-tail", "uniform") and not (
            isinstance(ratio, int | float) and not isinstance(ratio, bool) and math.isfinite(ratio) and ratio > 0):
        raise BenchmarkError(f"dataset '{dataset}' has unlabeled_ratio={ratio!r} for the {mix} mix",
                             "give a positive number (the pool's size relative to the labelled long-tail set, "
                             f"{DEFAULT_RATIO:g} in Yang & Xu 2020)")


def unlabeled_counts(left: Sequence[int], labelled: Sequence[int], mix: str, ratio: float | None) -> list[int]:
    """Per-class pool counts of ``mix`` (see the module docstring) from each class's left-out images
    ``left`` and labelled long-tail counts ``labelled``."""
    left = [int(n) for n in left]
    if mix == "none":
        return [0] * len(left)
    if mix == "all":
        return left
    if mix == "long-tail":
        return [min(n_left, round(ratio * n)) for n_left, n in zip(left, labelled, strict=True)]
    if mix == "uniform":
        per_class = min(round(ratio * sum(labelled) / len(labelled)), min(left))
        return [per_class] * len(left)
    raise BenchmarkError(f"unlabeled_mix={mix!r} is unknown", f"use one of {', '.join(UNLABELED_MIXES)}")


def unlabeled_note(left: Sequence[int], labelled: Sequence[int], counts: Sequence[int], mix: str,
                   ratio: float | None, class_names: Sequence[str]) -> str | None:
    """Where the pool falls short of its mix, in words (classes with no image left, capped classes)."""
    def names(classes: list[int]) -> str:
        return ", ".join(f"{c} ({class_names[c]})" if c < len(class_names) else str(c) for c in classes)

    notes = []
    empty = [c for c, n in enumerate(left) if n == 0]
    if empty:
        notes.append(f"class{'es' if len(empty) > 1 else ''} {names(empty)} {'have' if len(empty) > 1 else 'has'} "
                     "no left-out training image (the long-tail profile keeps all of them)")
    if mix == "long-tail":
        capped = [c for c, (n_left, n) in enumerate(zip(left, labelled, strict=True))
                  if n_left < round(ratio * n) and n_left > 0]
        if capped:
            notes.append(f"class{'es' if len(capped) > 1 else ''} {names(capped)} "
                         f"{'are' if len(capped) > 1 else 'is'} capped at {'their' if len(capped) > 1 else 'its'} "
                         f"left-out images, below {ratio:g} x the labelled count")
    if mix == "uniform" and counts and counts[0] < round(ratio * sum(labelled) / len(labelled)):
        notes.append(f"each class gets {counts[0]}, the fewest left-out images of any class (the uniform target "
                     f"was {round(ratio * sum(labelled) / len(labelled))})")
    if mix != "none" and sum(counts) == 0:
        notes.append("so this dataset exposes no unlabeled pool with this mix")
    return "; ".join(notes) or None


def expected_unlabeled(left: Sequence[int], labelled: Sequence[int], mix: str, ratio: float | None, source: str,
                       class_names: Sequence[str]) -> dict[str, Any]:
    """The pool as a card states it without loading the data: counts from the source's class sizes
    (a loaded split's ``info["unlabeled"]`` is exact: it also leaves out images identical to others)."""
    counts = unlabeled_counts(left, labelled, mix, ratio)
    record = {"size": sum(counts), "class_mix": mix, "ratio": ratio if mix in ("long-tail", "uniform") else None,
              "class_counts": counts, "source": source}
    if note := unlabeled_note(left, labelled, counts, mix, ratio, class_names):
        record["note"] = note
    return record


def draw_unlabeled(X_left: np.ndarray, y_left: np.ndarray, labelled: Sequence[int], mix: str, ratio: float | None,
                   rng: np.random.Generator, *, exclude: Sequence[np.ndarray], source: str,
                   class_names: Sequence[str]) -> tuple[np.ndarray | None, dict[str, Any]]:
    """Draw the pool from the left-out rows ``X_left`` (labels ``y_left``, used here only to follow the
    mix): rows equal to any row of ``exclude`` (the split's training, validation and test rows) leave
    first; the drawn rows are shuffled. Returns the pool (None when it is empty) and its record."""
    shared = np.zeros(len(X_left), dtype=bool)
    for other in exclude:
        shared |= rows_in(X_left, other)
    X_left, y_left = X_left[~shared], y_left[~shared]
    num_classes = len(labelled)
    left = np.bincount(y_left, minlength=num_classes).tolist()
    counts = unlabeled_counts(left, labelled, mix, ratio)
    rows = rng.permutation(subsample_per_class(y_left, counts, rng))  # class order hidden
    pool = X_left[rows]
    note = unlabeled_note(left, labelled, counts, mix, ratio, class_names)
    record = unlabeled_record(pool, class_mix=mix, ratio=ratio if mix in ("long-tail", "uniform") else None,
                              class_counts=counts, source=source, left_out=left,
                              removed_identical=int(shared.sum()), **({"note": note} if note else {}))
    return (pool if len(pool) else None), record


def unlabeled_text(record: dict[str, Any] | None) -> str:
    """One line a card shows for a pool record: size, mix, per-class counts, source and note."""
    if not isinstance(record, dict):
        return "none"
    size = record.get("size")
    mix, ratio = record.get("class_mix"), record.get("ratio")
    text = f"{size:,} rows" if isinstance(size, int) else "unknown size"
    text += f", {mix} mix" if mix else ""
    text += f" (ratio {ratio:g})" if isinstance(ratio, int | float) else ""
    counts = record.get("class_counts")
    if isinstance(counts, list) and counts:
        text += "; per class " + " / ".join(str(c) for c in counts)
    if record.get("source"):
        text += f"; {record['source']}"
    if record.get("note"):
        text += f"; note: {record['note']}"
    return text
