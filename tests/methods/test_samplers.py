"""Data-level samplers: class counts after resampling, training rows only, neighbour search, bounds."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
import scipy.sparse as sp
import torch
from sklearn.neighbors import NearestNeighbors

from benchmark.errors import BenchmarkError
from benchmark.methods import MethodContext, Recipe, method_registry
from benchmark.methods._imblearn import ImblearnResampler
from benchmark.methods._nearest_neighbours import NeighbourSearch, TorchNearestNeighbors
from benchmark.methods.resampling.hard_negative_mining import HardNegativeMiner
from benchmark.methods.resampling.over_sampling import ClasswiseADASYN
from benchmark.testing import make_image_split, make_tabular_split, make_text_split
from benchmark.training.base import TrainingConfig
from benchmark.training.classical import ClassicalEngine
from benchmark.training.deep import DeepEngine
from benchmark.training.features import make_featurizer

TINY = TrainingConfig(epochs=1, batch_size=16, tfidf_max_features=200)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def binary_rows(n=(120, 20), seed=0, separation=1.5):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(loc=separation * c, size=(k, 4)) for c, k in enumerate(n)]).astype(np.float32)
    y = np.repeat([0, 1], n)
    return X, y


def resample_with(name: str, params: dict, X, y, counts=None, seed: int = 0, kinds=None):
    counts = counts or tuple(np.bincount(y).tolist())
    ctx = MethodContext("tabular", "classical", len(counts), counts, (len(counts) - 1,), feature_kinds=kinds)
    recipe = method_registry.get(name).build(params, ctx)
    return recipe.resample.resample(X, y, seed=seed)


OVER_EXACT = [("random-oversampling", {}), ("smote", {"k_neighbors": 3}), ("borderline-smote-1", {"k_neighbors": 3}),
              ("borderline-smote-2", {"k_neighbors": 3}), ("adasyn", {"n_neighbors": 3})]


@pytest.mark.parametrize(("name", "params"), OVER_EXACT)
def test_over_samplers_reach_the_tuned_ratio(name, params):
    X, y = binary_rows()
    _, y_res = resample_with(name, {**params, "sampling_strategy": 0.5}, X, y)
    counts = np.bincount(y_res)
    assert counts[0] == 120
    # int(0.5 * 120); ADASYN rounds each minority row's share, so its total may miss by a few rows
    assert abs(counts[1] - 60) <= (3 if name == "adasyn" else 0)


def test_smote_nc_and_smote_n_keep_nominal_codes():
    rng = np.random.default_rng(0)
    X, y = binary_rows()
    codes = rng.integers(0, 3, size=(len(y), 2)).astype(np.float32)
    mixed = np.concatenate([X, codes], axis=1)
    kinds = ["numeric"] * 4 + ["nominal"] * 2
    X_res, y_res = resample_with("smote-nc", {"k_neighbors": 3}, mixed, y, kinds=kinds)
    assert np.bincount(y_res).tolist() == [120, 120]
    assert set(np.unique(X_res[:, 4:])) <= {0.0, 1.0, 2.0}
    X_res, y_res = resample_with("smote-n", {"k_neighbors": 3, "sampling_strategy": 0.5}, codes, y,
                                 kinds=["nominal"] * 2)
    assert np.bincount(y_res).tolist() == [120, 60] and set(np.unique(X_res)) <= {0.0, 1.0, 2.0}


UNDER_EXACT = [("random-undersampling", {}), ("nearmiss-1", {"n_neighbors": 3}), ("nearmiss-2", {"n_neighbors": 3}),
               ("cluster-centroids", {"voting": "hard"}), ("cluster-centroids", {"voting": "soft"})]


@pytest.mark.parametrize(("name", "params"), UNDER_EXACT)
def test_under_samplers_reach_the_tuned_ratio(name, params):
    X, y = binary_rows()
    _, y_res = resample_with(name, {**params, "sampling_strategy": 0.5}, X, y)
    assert np.bincount(y_res).tolist() == [40, 20]  # int(20 / 0.5) majority rows kept


@pytest.mark.parametrize("name", ["tomek-links", "edited-nearest-neighbours", "repeated-edited-nearest-neighbours",
                                  "all-knn", "condensed-nearest-neighbour", "one-sided-selection",
                                  "neighbourhood-cleaning-rule"])
def test_cleaning_samplers_remove_majority_rows_only(name):
    X, y = binary_rows(separation=1.0)
    X_res, y_res = resample_with(name, {}, X, y)
    counts = np.bincount(y_res, minlength=2)
    assert counts[1] == 20 and counts[0] < 120
    kept = {row.tobytes() for row in X_res}
    assert kept <= {row.tobytes() for row in X}  # cleaning keeps real rows


def test_multiclass_images_are_balanced_in_pixel_space():
    split = make_image_split()
    X, y = split.train.X, split.train.y
    ctx = MethodContext.from_split(split, "deep")
    X_res, y_res = method_registry.get("smote").build({"k_neighbors": 3}, ctx).resample.resample(X, y, seed=0)
    assert np.bincount(y_res).tolist() == [40, 40, 40]
    assert X_res.dtype == np.uint8 and X_res.shape[1:] == X.shape[1:]
    X_res, y_res = method_registry.get("random-undersampling").build({}, ctx).resample.resample(X, y, seed=0)
    assert np.bincount(y_res).tolist() == [8, 8, 8]


class RecordingSampler:
    """Wraps an imbalanced-learn sampler and keeps what it was given."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []

    def fit_resample(self, X, y):
        self.seen.append((X, np.asarray(y).copy()))
        return self.inner.fit_resample(X, y)


@pytest.mark.parametrize("engine", [DeepEngine(), ClassicalEngine()], ids=["deep", "classical"])
def test_a_sampler_sees_training_rows_only(engine):
    from imblearn.over_sampling import SMOTE

    split = make_tabular_split()
    spy = RecordingSampler(SMOTE(k_neighbors=3, random_state=0))
    engine.fit(split, Recipe(resample=ImblearnResampler("SMOTE", lambda seed, knn: spy)), TINY, seed=0, device="cpu")
    (X_seen, y_seen), = spy.seen
    assert np.array_equal(y_seen, split.train.y)
    featurizer = make_featurizer("tabular", TINY, split.feature_kinds).fit(split.train.X)
    seen = {row.tobytes() for row in np.asarray(X_seen, dtype=np.float32)}
    assert seen == {row.tobytes() for row in featurizer.transform(split.train.X)}
    for part in (split.val, split.test):
        assert not seen & {row.tobytes() for row in featurizer.transform(part.X)}


def test_torch_nearest_neighbours_match_scikit_learn():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(300, 64)).astype(np.float32)
    ours, theirs = TorchNearestNeighbors(n_neighbors=5).fit(X), NearestNeighbors(n_neighbors=5).fit(X)
    for query in (X[:50], None):
        d1, i1 = ours.kneighbors(query)
        d2, i2 = theirs.kneighbors(query)
        assert np.array_equal(i1, i2) and np.allclose(d1, d2, atol=1e-3)
    g1 = ours.kneighbors_graph(X[:20], mode="distance")
    assert abs(g1 - theirs.kneighbors_graph(X[:20], mode="distance")).max() < 1e-3
    with pytest.raises(BenchmarkError, match="nearest neighbours"):
        ours.kneighbors(None, n_neighbors=300)


@pytest.mark.gpu
def test_device_search_matches_scikit_learn_on_image_sized_rows():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, size=(3000, 784)).astype(np.float32)
    d1, i1 = TorchNearestNeighbors(n_neighbors=6, device="cuda").fit(X).kneighbors(X[:500])
    d2, i2 = NearestNeighbors(n_neighbors=6).fit(X).kneighbors(X[:500])
    assert (i1 == i2).mean() > 0.999 and np.allclose(d1, d2, rtol=1e-4)


def test_smote_gives_the_same_rows_with_the_torch_search():
    from imblearn.over_sampling import SMOTE

    X, y = binary_rows()
    a = SMOTE(k_neighbors=4, random_state=3).fit_resample(X, y)
    b = SMOTE(k_neighbors=NeighbourSearch(True)(4), random_state=3).fit_resample(X, y)
    assert np.array_equal(a[1], b[1]) and np.allclose(a[0], b[0], atol=1e-5)


def test_neighbour_backend_follows_the_data_size():
    assert NeighbourSearch.for_data(np.zeros((100, 10))).use_torch is False
    assert NeighbourSearch.for_data(np.zeros((4000, 784), dtype=np.float32)).use_torch is True
    assert NeighbourSearch.for_data(sp.random(4000, 784, format="csr")).use_torch is False
    assert NeighbourSearch(False)(5) == 5
    assert NeighbourSearch(True)(5).n_neighbors == 6  # imbalanced-learn adds the query row itself to an int


def test_adasyn_on_separated_classes_falls_back_to_uniform_weights():
    X, y = binary_rows(separation=50.0)
    sampler = ClasswiseADASYN("auto", 3, 3, random_state=0)
    _, y_res = sampler.fit_resample(X, y)
    assert np.bincount(y_res).tolist() == [120, 120] and sampler.uniform_classes == [1]
    X, y = binary_rows(separation=1.0)
    from imblearn.over_sampling import ADASYN

    ours = ClasswiseADASYN("auto", 3, 3, random_state=0)
    X_a, y_a = ours.fit_resample(X, y)
    X_b, y_b = ADASYN(n_neighbors=3, random_state=0).fit_resample(X, y)
    assert ours.uniform_classes == [] and np.array_equal(y_a, y_b) and np.allclose(X_a, X_b)
    # a small target: every minority row's rounded share is 0, so ADASYN adds nothing (no failure)
    X_small, y_small = ClasswiseADASYN(0.2, 3, 3, random_state=0).fit_resample(X, y)
    assert np.bincount(y_small).tolist() == [120, 20] and np.array_equal(X_small, X)


def test_applicability_of_smote_nc_and_smote_n():
    mixed, numeric = make_tabular_split(), make_tabular_split(nominal=False)
    nc, n = method_registry.get("smote-nc"), method_registry.get("smote-n")
    assert nc.not_applicable_reason(mixed, "deep") is None
    assert "no nominal" in nc.not_applicable_reason(numeric, "deep")
    assert "all features nominal" in n.not_applicable_reason(mixed, "deep")
    assert "supports tabular" in n.not_applicable_reason(make_text_split(), "deep")
    lonely = make_tabular_split(n_train=(30, 1))
    assert "one sample" in method_registry.get("smote").not_applicable_reason(lonely, "deep")


@pytest.mark.parametrize(("name", "key", "limit"), [("smote", "k_neighbors", 2), ("adasyn", "n_neighbors", 2),
                                                     ("nearmiss-1", "n_neighbors", 3),
                                                     ("instance-hardness-threshold", "cv", 3)])
def test_search_spaces_are_bounded_by_the_smallest_class(name, key, limit):
    ctx = MethodContext("tabular", "deep", 2, (200, 3), (1,))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    values = [method_registry.get(name).search_space(study.ask(), ctx)[key] for _ in range(40)]
    assert max(values) <= limit and min(values) >= 1


def test_hard_negative_mining_keeps_the_minority_and_adds_misclassified_rows():
    X, y = binary_rows(n=(300, 20), separation=1.0)
    miner = HardNegativeMiner((1,), rounds=3, start_ratio=1.0)
    X_res, y_res = miner.resample(X, y, seed=0)
    counts = np.bincount(y_res)
    assert counts[1] == 20 and 20 < counts[0] <= 20 * 4
    assert miner.history == sorted(miner.history) and miner.history[0] == 40
    assert {r.tobytes() for r in X_res} <= {r.tobytes() for r in X}
    easy = HardNegativeMiner((1,), rounds=3, start_ratio=1.0)
    _, y_easy = easy.resample(*binary_rows(n=(300, 20), separation=20.0), seed=0)
    assert np.bincount(y_easy).tolist() == [20, 20] and easy.history == [40]  # nothing misclassified: stop
    with pytest.raises(BenchmarkError, match="start_ratio"):
        HardNegativeMiner((1,), rounds=1, start_ratio=0.0)


def test_borderline_smote_2_accepts_sparse_text_features():
    split = make_text_split()
    features = make_featurizer("text", TINY, dense=False).fit(split.train.X).transform(split.train.X)
    ctx = MethodContext.from_split(split, "classical")
    recipe = method_registry.get("borderline-smote-2").build({"k_neighbors": 2, "m_neighbors": 5}, ctx)
    _, y_res = recipe.resample.resample(features, split.train.y, seed=0)
    assert np.bincount(y_res)[1] >= np.bincount(split.train.y)[1]
