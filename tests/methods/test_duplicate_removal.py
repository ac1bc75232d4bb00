"""duplicate-removal-undersampling (issue 30): exact duplicates go at radius 0, the kept majority rows form a
net at the tuned radius, minority rows are never touched, on dense, sparse and image data."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import pairwise_distances

from benchmark.methods import MethodContext, method_registry
from benchmark.methods.resampling.duplicate_removal import DuplicateRemoval
from benchmark.testing import check_method
from tests.test_cli import cli


def data(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0, 1, (60, 4)), rng.normal(2, 1, (25, 4)), rng.normal(-2, 1, (8, 4))])
    y = np.repeat([0, 1, 2], [60, 25, 8])
    X[10:15] = X[3]  # five exact copies of a majority row
    X[-3:] = X[-4]  # and three of a minority row, which must stay
    return X, y


def test_radius_zero_removes_exact_majority_duplicates_only():
    X, y = data()
    X_out, y_out = DuplicateRemoval(0.0, protected=(2,)).resample(X, y, seed=0)
    assert np.bincount(y_out).tolist() == [55, 25, 8]
    assert len(np.unique(X_out[y_out == 0], axis=0)) == 55  # one copy of the duplicated row is kept


@pytest.mark.parametrize("radius", [0.3, 0.7, 1.5])
def test_kept_rows_form_a_net_at_the_radius(radius):
    X, y = data(1)
    X_out, y_out = DuplicateRemoval(radius, protected=(2,)).resample(X, y, seed=3)
    for c in (0, 1):
        rows = np.unique(X[y == c], axis=0)
        d = pairwise_distances(rows)
        np.fill_diagonal(d, np.inf)
        eps = radius * float(np.median(d.min(axis=1)))
        kept = X_out[y_out == c]
        between = pairwise_distances(kept)
        np.fill_diagonal(between, np.inf)
        assert between.min() > eps  # no two kept rows within the radius
        removed = np.array([r for r in rows if not (kept == r).all(axis=1).any()])
        if len(removed):  # every removed row lies within the radius of a kept one
            assert pairwise_distances(removed, kept).min(axis=1).max() <= eps + 1e-9
    assert np.array_equal(X_out[y_out == 2], X[y == 2])  # the minority class as it was, copies included


def test_larger_radius_removes_more_and_the_seed_changes_which():
    X, y = data(2)
    sizes = [len(DuplicateRemoval(r, (2,)).resample(X, y, seed=0)[1]) for r in (0.0, 0.7, 1.4)]
    assert sizes[0] > sizes[1] > sizes[2]
    a, b = (DuplicateRemoval(1.4, (2,)).resample(X, y, seed=s)[0] for s in (0, 1))
    assert a.shape != b.shape or not np.array_equal(a, b)


def test_sparse_and_image_rows():
    X, y = data(3)
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    dense_out = DuplicateRemoval(0.5, (2,)).resample(Xs.toarray(), y, seed=0)
    sparse_out = DuplicateRemoval(0.5, (2,)).resample(Xs, y, seed=0)
    assert sp.issparse(sparse_out[0]) and np.array_equal(sparse_out[0].toarray(), dense_out[0])
    images = np.random.default_rng(0).integers(0, 255, (30, 1, 4, 4), dtype=np.uint8)
    images[5:9] = images[0]
    labels = np.repeat([0, 1], [24, 6])
    out, out_y = DuplicateRemoval(0.0, (1,)).resample(images, labels, seed=0)
    assert out.shape == (26, 1, 4, 4) and out.dtype == np.uint8 and np.bincount(out_y).tolist() == [20, 6]


def test_the_row_never_removes_the_splits_minority_classes():
    ctx = MethodContext("tabular", "classical", 3, (60, 25, 8), (1, 2))
    X, y = data(4)
    X[30:40] = X[20]
    X[70:75] = X[65]
    recipe = method_registry.get("duplicate-removal-undersampling").build({"radius": 0.9}, ctx)
    X_out, y_out = recipe.resample.resample(X, y, seed=0)
    assert np.bincount(y_out)[1:].tolist() == [25, 8] and np.bincount(y_out)[0] < 60


@pytest.mark.slow  # starts processes (the CLI or workers): seconds, kept out of -m 'not slow'
def test_it_passes_the_shipped_checks_and_is_listed_with_its_paper():
    assert set(check_method("duplicate-removal-undersampling").values()) == {"passed"}
    method = method_registry.get("duplicate-removal-undersampling")
    assert method.family == "cleaning" and method.paper_key == "wilson2000reduction"
    import json

    for name, key in (("duplicate-removal-undersampling", "wilson2000reduction"), ("affine", "simard2003best")):
        listed = cli("list", "methods", name, "--format", "json")
        assert listed.returncode == 0, listed.stderr
        assert {"name": name, "paper": key}.items() <= json.loads(listed.stdout)[0].items()
