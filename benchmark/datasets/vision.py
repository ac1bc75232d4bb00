"""Vision long-tail datasets."""

from __future__ import annotations

import numpy as np

from benchmark.datasets.base import DataPart, LoadRequest, Split, register_dataset
from benchmark.protocol import PROFILES, balanced_holdout, stratified_holdout, subsample_per_class

VAL_FRACTION = 0.2

DIGITS_BIB = """@misc{alpaydin1998optical,
  title={Optical Recognition of Handwritten Digits},
  author={Alpaydin, E. and Kaynak, C.},
  howpublished={UCI Machine Learning Repository}, year={1998}, doi={10.24432/C50P49}}"""


def long_tail_split(name: str, request: LoadRequest, X: np.ndarray, y: np.ndarray, X_test: np.ndarray,
                    y_test: np.ndarray, class_names: list[str], n_max: int | None = None) -> Split:
    """Subsample a balanced training pool to the entry's profile, hold out a validation share with the
    same per-class proportions (at least one per class), keep the balanced test set as it is."""
    params = request.params
    num_classes = len(class_names)
    pool_counts = np.bincount(y, minlength=num_classes)
    n_max = int(n_max or pool_counts.min())
    counts = PROFILES[params.get("profile", "exp")](n_max, num_classes, params.get("rho", 100))
    keep = subsample_per_class(y, counts, request.rng("long-tail"))
    X_lt, y_lt = X[keep], y[keep]
    train_idx, val_idx = stratified_holdout(y_lt, params.get("val_fraction", VAL_FRACTION), request.rng("validation"))
    info = {"profile": params.get("profile", "exp"), "rho": params.get("rho", 100), "long_tail_counts": counts,
            "val_fraction": params.get("val_fraction", VAL_FRACTION)}
    return Split(name, "image", class_names, DataPart(X_lt[train_idx], y_lt[train_idx]),
                 DataPart(X_lt[val_idx], y_lt[val_idx]), DataPart(X_test, y_test), info=info)


@register_dataset(
    "digits-lt",
    modality="image",
    num_classes=10,
    source="scikit-learn's bundled copy of the UCI optical digits (sklearn.datasets.load_digits)",
    description="8x8 grey digits made long-tailed (exponential profile, rho=10) with a balanced test "
    "hold-out of 40 images per class; small enough for tests and the smoke suite.",
    license="CC BY 4.0",
    citation=DIGITS_BIB,
    params={"rho": 10, "profile": "exp", "test_per_class": 40},
    default_model={"deep": "small-cnn"},
    label_preserving_transforms=("crop", "noise", "blur", "erasing", "affine-small"),
)
def digits_lt(request: LoadRequest) -> Split:
    """Digits: 1,797 images; a balanced test set is held out first, the rest is the long-tail pool."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    pool, test = balanced_holdout(labels, request.params["test_per_class"], request.rng("test"))
    return long_tail_split(request.name, request, images[pool], labels[pool], images[test], labels[test],
                           [str(d) for d in range(10)])
