"""The split protocol: imbalance profiles, hold-outs, minority classes, seeded streams, the split
cache (atomic, keyed, never holding a failed build) and byte-identical splits across machines."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from benchmark.datasets import dataset_registry
from benchmark.datasets.base import DataPart, Dataset, LoadRequest, Split
from benchmark.datasets.split import holdout_split
from benchmark.errors import BenchmarkError
from benchmark.protocol import (
    Budget,
    balanced_holdout,
    check_rho,
    exponential_profile,
    minority_classes,
    step_profile,
    stratified_holdout,
    subsample_per_class,
)

# Fingerprints of splits built on the reference machine. A change here means every stored result
# was made on other splits: bump SPLIT_FORMAT_VERSION and say so in the changelog, never just update.
PINNED = {
    "digits-lt": "18480e8c707683f101857d852c082aec86444d5a6ce3e3d9d4a78a88ae702404",
    # split format 2 (duplicates grouped) moved the two sets that hold duplicates; the others hold none
    "keel-yeast3": "ccfff640d66527bf779a33a7b1aba2b740f584c676ccbd80eb4f4e80fb17509b",
    "sms-spam-mini": "157326fe1bc635f30621540093cbb6a2465a92687c72450a9a80677d0e663021",
    "fashion-mnist-lt": "70b531fb5f79c1cc3a0eb1accf926bc433ad4c303f9ac13a78e44826b41aafd0",
}


# -- profiles ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_max, classes, rho, total", [
    (5000, 10, 100, 12406), (5000, 10, 50, 13996), (5000, 10, 10, 20431),  # CIFAR-10-LT (Cao et al. 2019)
    (500, 100, 100, 10847), (500, 100, 50, 12608), (500, 100, 10, 19573),  # CIFAR-100-LT
])
def test_exponential_profile_matches_the_literature(n_max, classes, rho, total):
    counts = exponential_profile(n_max, classes, rho)
    assert sum(counts) == total and counts[0] == n_max and counts[-1] == int(n_max / rho)
    assert all(a >= b for a, b in zip(counts, counts[1:], strict=False))
    for i, n in enumerate(counts):  # n_i = floor(n_max * rho^(-i/(C-1))), up to float rounding
        assert abs(n - math.floor(n_max * rho ** (-i / (classes - 1)))) <= 1


def test_step_profile_and_balanced_limit():
    assert step_profile(500, 5, 10) == [500, 500, 50, 50, 50]
    assert exponential_profile(300, 4, 1) == [300] * 4


@pytest.mark.parametrize("rho", [0.99, 0, -1, float("inf"), float("nan"), "100"])
def test_invalid_rho(rho):
    with pytest.raises(BenchmarkError, match="rho=.* is invalid"):
        check_rho(rho)


# -- hold-outs ---------------------------------------------------------------------------------------
def test_stratified_holdout_keeps_proportions_and_one_per_class():
    y = np.repeat([0, 1, 2], [100, 10, 2])
    kept, held = stratified_holdout(y, 0.2, np.random.default_rng(0))
    assert np.bincount(y[held]).tolist() == [20, 2, 1] and np.bincount(y[kept]).tolist() == [80, 8, 1]
    assert sorted(np.r_[kept, held].tolist()) == list(range(len(y)))
    with pytest.raises(BenchmarkError, match="class 2 has 1 sample.*too few to hold out one test sample"):
        stratified_holdout(np.repeat([0, 1, 2], [5, 5, 1]), 0.3, np.random.default_rng(0), what="test")
    with pytest.raises(BenchmarkError, match="validation fraction 1.5 is invalid"):
        stratified_holdout(y, 1.5, np.random.default_rng(0))


def test_balanced_holdout_and_subsample():
    y = np.repeat([0, 1], [30, 12])
    kept, held = balanced_holdout(y, 5, np.random.default_rng(1))
    assert np.bincount(y[held]).tolist() == [5, 5] and len(kept) == 32
    keep = subsample_per_class(y, [7, 3], np.random.default_rng(2))
    assert np.bincount(y[keep]).tolist() == [7, 3]
    assert keep.tolist() == subsample_per_class(y, [7, 3], np.random.default_rng(2)).tolist()
    with pytest.raises(BenchmarkError, match="class 1 has 12 samples but the profile asks for 13"):
        subsample_per_class(y, [7, 13], np.random.default_rng(2))


def test_minority_classes():
    assert minority_classes([90, 10]) == [1]
    assert minority_classes([500, 300, 200, 100, 50, 20]) == [4, 5]
    assert minority_classes([50, 10, 10, 40]) == [1, 2]  # ceil(4/3) = 2 fewest
    assert minority_classes([5] * 10) == [6, 7, 8, 9]  # ties: the later classes


def test_budget_rejects_bad_values():
    with pytest.raises(BenchmarkError, match="--trials 0"):
        Budget(trials=0, seeds=1)
    with pytest.raises(BenchmarkError, match="--seeds 0"):
        Budget(trials=1, seeds=0)


# -- seeded streams ----------------------------------------------------------------------------------
def test_random_streams_per_purpose_seed_and_family(tmp_path):
    def draw(name, purpose, seed, family=""):
        return LoadRequest(name, tmp_path, seed, {}, family).rng(purpose).integers(1 << 30, size=4).tolist()

    assert draw("a", "test", 0) == draw("a", "test", 0)
    assert draw("a", "test", 0) != draw("a", "validation", 0) != draw("a", "test", 1)
    assert draw("a-r10", "long-tail", 0, "a") == draw("a-r50", "long-tail", 0, "a") != draw("a-r10", "long-tail", 0)


# -- the split cache ---------------------------------------------------------------------------------
def tiny_tabular(request: LoadRequest) -> Split:
    rng = request.rng("data")
    y = np.repeat([0, 1], [request.params.get("majority", 40), request.params.get("minority", 10)])
    X = rng.normal(size=(len(y), 3)).astype(np.float32)
    return holdout_split(request.name, "tabular", request, X, y, ["negative", "positive"], info={},
                         feature_kinds=["numeric"] * 3)


def tiny_entry(**params) -> Dataset:
    return Dataset(name="tiny", builder=tiny_tabular, modality="tabular", num_classes=2, source="tests",
                   description="tiny", params={"test_fraction": 0.3, "val_fraction": 0.25, **params})


def test_cache_hit_and_parameters_in_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHMARK_CACHE", str(tmp_path / "cache"))
    entry = tiny_entry()
    first = entry.load(tmp_path)
    (path,) = (tmp_path / "cache").glob("tiny-s0-*.npz")
    assert Split.load(path).fingerprint() == first.fingerprint() == entry.load(tmp_path).fingerprint()
    assert path.stat().st_mode & 0o777 == 0o644
    other = tiny_entry(majority=60)
    assert other.cache_key(0) != entry.cache_key(0) and len(other.load(tmp_path).train) != len(first.train)
    assert entry.cache_key(0) != entry.cache_key(1)


def test_failed_build_is_named_and_never_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHMARK_CACHE", str(tmp_path / "cache"))
    with pytest.raises(BenchmarkError, match=r"dataset 'tiny': class 1 has 1 sample\(s\)") as info:
        tiny_entry(minority=2).load(tmp_path)  # 1 test row leaves 1: none for validation
    assert "use a smaller imbalance ratio, a larger dataset" in str(info.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_damaged_cache_entry_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHMARK_CACHE", str(tmp_path / "cache"))
    entry = tiny_entry()
    good = entry.load(tmp_path).fingerprint()
    (path,) = (tmp_path / "cache").glob("*.npz")
    path.write_bytes(b"not an npz")
    assert entry.load(tmp_path).fingerprint() == good
    assert Split.load(path).fingerprint() == good


def test_interrupted_save_keeps_the_old_entry(tmp_path, monkeypatch):
    split = tiny_tabular(LoadRequest("tiny", tmp_path, 0, {"test_fraction": 0.3, "val_fraction": 0.25}))
    path = tmp_path / "entry.npz"
    split.save(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        Split("tiny", "tabular", ["a", "b"], DataPart(split.train.X[:3], split.train.y[:3]), split.val,
              split.test).save(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["entry.npz"]


# -- byte-identical splits on every machine ----------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_split_fingerprints(name, data_root):
    split = dataset_registry.get(name).load(data_root, split_seed=0, cache=False)
    assert split.fingerprint() == PINNED[name], (
        f"the split of {name} changed: stored results were made on other splits (see PINNED)")


def test_other_split_seed_other_holdouts(data_root):
    entry = dataset_registry.get("keel-yeast3")
    a, b = entry.load(data_root, 0, cache=False), entry.load(data_root, 1, cache=False)
    assert a.class_counts("test") == b.class_counts("test")  # same stratified sizes ...
    assert not np.array_equal(a.test.X, b.test.X)  # ... other rows


def test_cache_files_are_not_written_into_the_data_root(data_root):
    before = sorted(p.name for p in Path(data_root).rglob("*"))
    dataset_registry.get("keel-glass2").load(data_root)
    assert sorted(p.name for p in Path(data_root).rglob("*")) == before
