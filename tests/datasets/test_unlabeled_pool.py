"""The unlabeled pool: never a split row, counts that follow its mix, no labels on the split, a cache
round trip, unchanged split fingerprints, and the card (with and without the data)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmark.datasets import dataset_registry
from benchmark.datasets.base import LoadRequest, Split
from benchmark.datasets.unlabeled import DEFAULT_RATIO, array_digest, unlabeled_counts
from benchmark.datasets.vision import long_tail_counts, long_tail_split, register_long_tail
from benchmark.errors import BenchmarkError, DataUnavailableError
from benchmark.testing import make_binary_image_split, make_image_split
from tests.datasets.test_datasets_vision import labelled_images
from tests.test_protocol import PINNED

FASHION_LT = [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]
# Left-out images per class (6,000 - n_c), capped at 5 x n_c: the head class is used whole.
FASHION_POOL = [0, 2404, 3844, 4708, 3870, 2320, 1390, 830, 500, 300]
MINI_LT = [300, 179, 107, 64, 38, 23, 13, 8, 5, 3]
# Fingerprint of fashion-mnist-lt-mini's split 0 before the pool existed (results were stored on it).
MINI_FINGERPRINT = "6fd1e9625e822efb1fe0a147193cbdf8ff8e93748c3a0853bd392df6cc8d1542"

POOL_DATASETS = sorted(name for name, entry in dataset_registry.items()
                       if entry.params.get("unlabeled_mix", "none") != "none")


def row_hashes(X: np.ndarray) -> list[bytes]:
    """One digest per row of its bytes (images: identical pixels give equal digests)."""
    flat = np.ascontiguousarray(X).reshape(len(X), -1)
    return [hashlib.sha256(row.tobytes()).digest() for row in flat]


def load_or_skip(name: str, data_root: Path, monkeypatch, **kwargs) -> Split:
    monkeypatch.setenv("BENCHMARK_OFFLINE", "1")  # never download in tests
    try:
        return dataset_registry.get(name).load(data_root, **{"cache": False, **kwargs})
    except DataUnavailableError:
        pytest.skip(f"the data of {name} is not under the data root")


def read_idx_gz(path: Path, header: int) -> np.ndarray:
    return np.frombuffer(gzip.decompress(path.read_bytes()), dtype=np.uint8, offset=header)


@pytest.fixture(scope="module")
def fashion_train(data_root) -> dict[bytes, int]:
    """The official Fashion-MNIST training images (digest -> label), read straight from the files."""
    raw = data_root / "FashionMNIST" / "raw"
    if not (raw / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST's .gz files are not under the data root")
    X = read_idx_gz(raw / "train-images-idx3-ubyte.gz", 16).reshape(-1, 28 * 28)
    y = read_idx_gz(raw / "train-labels-idx1-ubyte.gz", 8)
    return dict(zip(row_hashes(X), y.tolist(), strict=True))


# -- every registered dataset that exposes a pool ------------------------------------------------------
def test_the_registry_has_pool_datasets_with_data_here(data_root):
    """The loop below is not vacuous: the vision families expose pools and some have data here."""
    assert {"fashion-mnist-lt", "fashion-mnist-lt-mini", "digits-lt", "cifar10-lt", "mnist-lt"} <= set(POOL_DATASETS)
    assert (data_root / "FashionMNIST" / "raw").is_dir()


@pytest.mark.parametrize("name", POOL_DATASETS)
def test_pool_holds_no_split_row_and_follows_its_mix(name, data_root, monkeypatch):
    split = load_or_skip(name, data_root, monkeypatch)
    record, params = split.info["unlabeled"], dataset_registry.get(name).params
    assert record["class_mix"] == params["unlabeled_mix"]
    if split.unlabeled is None:  # a mix the source cannot supply: said so, never a silent empty pool
        assert record["size"] == 0 and "no unlabeled pool" in record["note"]
        return
    pool = split.unlabeled
    assert pool.dtype == split.train.X.dtype and pool.shape[1:] == split.train.X.shape[1:]
    in_split = set()
    for part in (split.train, split.val, split.test):
        in_split.update(row_hashes(part.X))
    assert not in_split.intersection(row_hashes(pool)), f"{name}: a pool row equals a training, validation or test row"
    # the counts follow the mix from the labelled long-tail counts and the images left out
    counts = record["class_counts"]
    assert sum(counts) == record["size"] == len(pool)
    assert counts == unlabeled_counts(record["left_out"], split.info["long_tail_counts"], record["class_mix"],
                                      record["ratio"])
    assert record["fingerprint"] == array_digest(pool)


def test_fashion_pool_is_left_out_official_training_images_with_the_recorded_mix(data_root, monkeypatch,
                                                                                 fashion_train):
    """Matched against the official training files, the pool's true labels give the recorded counts:
    the head class (n_max = 6,000 is the whole class) has none, classes 1-3 are capped, the rest 5 x n_c."""
    split = load_or_skip("fashion-mnist-lt", data_root, monkeypatch)
    record = split.info["unlabeled"]
    labels = np.array([fashion_train[h] for h in row_hashes(split.unlabeled)])  # KeyError: not a training image
    assert np.bincount(labels, minlength=10).tolist() == FASHION_POOL == record["class_counts"]
    assert record["left_out"] == [6000 - n for n in FASHION_LT] and record["ratio"] == DEFAULT_RATIO == 5
    assert record["size"] == 20166 and "class 0 (T-shirt/top) has no left-out training image" in record["note"]
    assert not np.all(np.diff(labels) >= 0)  # shuffled: the row order does not give the classes away
    mini = load_or_skip("fashion-mnist-lt-mini", data_root, monkeypatch)
    mini_labels = np.array([fashion_train[h] for h in row_hashes(mini.unlabeled)])
    assert np.bincount(mini_labels, minlength=10).tolist() == MINI_LT == mini.info["unlabeled"]["class_counts"]


def test_split_fingerprints_do_not_move_with_the_pool(data_root, monkeypatch):
    """The pool draws from its own random stream: the parts (and stored results' fingerprints) are
    those of the split without a pool."""
    for name, pinned in (("fashion-mnist-lt", PINNED["fashion-mnist-lt"]), ("digits-lt", PINNED["digits-lt"]),
                         ("fashion-mnist-lt-mini", MINI_FINGERPRINT)):
        entry = dataset_registry.get(name)
        with_pool = load_or_skip(name, data_root, monkeypatch)
        without = replace(entry, params={**entry.params, "unlabeled_mix": "none"}).load(data_root, cache=False)
        assert with_pool.unlabeled is not None and without.unlabeled is None and "unlabeled" not in without.info
        assert with_pool.fingerprint() == without.fingerprint() == pinned, name


def test_pool_round_trips_through_the_cache(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHMARK_CACHE", str(tmp_path))
    built = load_or_skip("fashion-mnist-lt-mini", data_root, monkeypatch, cache=True)
    [cached_file] = tmp_path.glob("fashion-mnist-lt-mini-s0-*.npz")
    with np.load(cached_file, allow_pickle=False) as data:
        assert "unlabeled_X" in data.files and not any("unlabeled_y" in key for key in data.files)
    read = dataset_registry.get("fashion-mnist-lt-mini").load(data_root, 0)
    assert np.array_equal(read.unlabeled, built.unlabeled) and read.info["unlabeled"] == built.info["unlabeled"]
    assert read.fingerprint() == built.fingerprint() == MINI_FINGERPRINT


# -- the split object ---------------------------------------------------------------------------------
def test_split_holds_pool_features_only_and_saves_them(tmp_path):
    split = make_image_split()
    label_like = [f.name for f in dataclasses.fields(Split) if "unlabeled" in f.name]
    assert label_like == ["unlabeled"] and split.unlabeled.shape == (34, 1, 8, 8)
    assert set(split.info["unlabeled"]) >= {"size", "class_mix", "ratio", "class_counts", "source", "fingerprint"}
    summary = split.summary()
    assert summary["unlabeled"]["size"] == 34 and not any(isinstance(v, np.ndarray) for v in summary.values())
    json.dumps(summary)  # the pool's record, never its rows
    split.save(tmp_path / "s.npz")
    back = Split.load(tmp_path / "s.npz")
    assert np.array_equal(back.unlabeled, split.unlabeled) and back.info == split.info
    without = make_image_split(n_unlabeled=None)
    without.save(tmp_path / "none.npz")
    assert Split.load(tmp_path / "none.npz").unlabeled is None


def test_tiny_image_split_pool_leaves_the_parts_unchanged():
    split, plain = make_image_split(), make_image_split(n_unlabeled=None)
    assert split.fingerprint() == plain.fingerprint() and plain.unlabeled is None
    assert not set(row_hashes(split.unlabeled)) & set(row_hashes(np.concatenate(
        [split.train.X, split.val.X, split.test.X])))
    assert make_binary_image_split().unlabeled is None  # the conformance checks also meet a split without one


def test_pool_of_the_wrong_format_is_refused():
    split = make_image_split(n_unlabeled=None)
    with pytest.raises(BenchmarkError, match=r"unlabeled pool of 'tiny-image' has shape \(3, 64\)"):
        Split("tiny-image", "image", split.class_names, split.train, split.val, split.test,
              unlabeled=np.zeros((3, 64), dtype=np.uint8))


# -- the mixes, on synthetic images whose bytes spell their index ------------------------------------------
def synthetic(per_class: int = 60, classes: int = 4):
    X, y = labelled_images([per_class] * classes, (1, 4, 4))
    X_test, y_test = labelled_images([5] * classes, (1, 4, 4), offset=10_000)
    return X, y, X_test, y_test


def pool_of(params: dict, data=None) -> Split:
    X, y, X_test, y_test = data or synthetic()
    request = LoadRequest("tiny-lt", Path("."), 0, {"rho": 10, "n_max": 40, **params})
    return long_tail_split("tiny-lt", request, X, y, X_test, y_test, list("abcd"))


def test_long_tail_uniform_all_and_none_mixes():
    lt = long_tail_counts(40, 4, 10)  # [40, 18, 8, 4]; 60 images per class: 20, 42, 52, 56 left out
    left = [60 - n for n in lt]
    long_tail = pool_of({"unlabeled_ratio": 2})
    assert long_tail.info["unlabeled"]["class_counts"] == [min(a, 2 * n) for a, n in zip(left, lt, strict=True)]
    assert long_tail.info["unlabeled"]["class_counts"] == [20, 36, 16, 8]
    assert "class 0 (a) is capped" in long_tail.info["unlabeled"]["note"]
    uniform = pool_of({"unlabeled_mix": "uniform", "unlabeled_ratio": 0.5})
    assert uniform.info["unlabeled"]["class_counts"] == [round(0.5 * sum(lt) / 4)] * 4 == [9] * 4
    capped = pool_of({"unlabeled_mix": "uniform", "unlabeled_ratio": 5})  # 88 per class wanted, 20 left in class 0
    assert capped.info["unlabeled"]["class_counts"] == [20] * 4 and "the uniform target was 88" in \
        capped.info["unlabeled"]["note"]
    everything = pool_of({"unlabeled_mix": "all"})
    assert everything.info["unlabeled"]["class_counts"] == left and everything.info["unlabeled"]["ratio"] is None
    assert len(everything.unlabeled) == sum(left)
    none = pool_of({"unlabeled_mix": "none"})
    assert none.unlabeled is None and "unlabeled" not in none.info
    assert none.fingerprint() == long_tail.fingerprint() == uniform.fingerprint() == everything.fingerprint()


def test_uniform_mix_without_images_left_in_a_class_gives_no_pool():
    split = pool_of({"unlabeled_mix": "uniform", "n_max": 60})  # class 0 is used whole
    assert split.unlabeled is None and split.info["unlabeled"]["size"] == 0
    assert "class 0 (a) has no left-out" in split.info["unlabeled"]["note"]


def test_images_identical_to_split_images_never_enter_the_pool():
    X, y, X_test, y_test = synthetic()
    X = np.concatenate([X, X])  # every training image twice: each left-out twin of a split image must stay out
    y = np.concatenate([y, y])
    X[-1] = X_test[0]  # and one training image equal to a test image
    split = pool_of({"unlabeled_mix": "all"}, (X, y, X_test, y_test))
    in_split = set(row_hashes(np.concatenate([split.train.X, split.val.X, split.test.X])))
    assert not in_split & set(row_hashes(split.unlabeled))
    # copies of each training image (the one equal to a test image is out before the draw) and of each
    # image the long-tail draw took: the left-out copies of a drawn image are removed, the rest pooled
    copies = Counter(h for h in row_hashes(X) if h not in set(row_hashes(X_test)))
    drawn = Counter(row_hashes(np.concatenate([split.train.X, split.val.X])))
    removed = sum(copies[h] - drawn[h] for h in drawn)
    assert removed > 0 and split.info["unlabeled"]["removed_identical"] == removed
    assert len(split.unlabeled) == sum(n for h, n in copies.items() if h not in drawn)


@pytest.mark.parametrize("mix, ratio, match", [
    ("bogus", 5, r"unlabeled_mix='bogus'.*use one of long-tail, uniform, all, none"),
    ("long-tail", -1, r"unlabeled_ratio=-1 for the long-tail mix"),
    ("uniform", float("nan"), r"unlabeled_ratio=nan for the uniform mix"),
])
def test_bad_pool_parameters_are_refused(mix, ratio, match):
    with pytest.raises(BenchmarkError, match=match):
        register_long_tail("fashion-mnist-lt-badpool", "fashion-mnist-lt", "exp", 100, unlabeled_mix=mix,
                           unlabeled_ratio=ratio)
    assert "fashion-mnist-lt-badpool" not in dataset_registry
    with pytest.raises(BenchmarkError, match=match):
        pool_of({"unlabeled_mix": mix, "unlabeled_ratio": ratio})


# -- the card --------------------------------------------------------------------------------------------
def test_card_states_the_pool_without_the_data():
    stats = dataset_registry.get("fashion-mnist-lt").card()["stats"]["unlabeled"]
    assert stats["class_counts"] == FASHION_POOL and stats["size"] == 20166 and stats["class_mix"] == "long-tail"
    assert "class 0 (T-shirt/top) has no left-out training image" in stats["note"]
    mini = dataset_registry.get("fashion-mnist-lt-mini").card()
    assert mini["stats"]["unlabeled"]["class_counts"] == MINI_LT and mini["params"]["unlabeled_ratio"] == 1.0
    cifar = dataset_registry.get("cifar10-lt").card()["stats"]["unlabeled"]
    assert cifar["class_counts"][0] == 0 and cifar["size"] == 16810


def test_show_dataset_shows_the_pool_size_and_class_mix(data_root, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from benchmark.cli import app

    monkeypatch.setenv("BENCHMARK_CACHE", str(tmp_path))
    monkeypatch.setenv("BENCHMARK_OFFLINE", "1")
    monkeypatch.setenv("COLUMNS", "400")
    result = CliRunner().invoke(app, ["show", "dataset", "fashion-mnist-lt", "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    line = next(s for s in result.stdout.splitlines() if s.startswith("unlabeled "))
    assert "20,166 rows, long-tail mix (ratio 5); per class 0 / 2404 / 3844 / 4708" in line
    assert "class 0 (T-shirt/top) has no left-out training image" in line
    as_json = CliRunner().invoke(app, ["show", "dataset", "fashion-mnist-lt", "--data-root", str(data_root),
                                       "--format", "json"])
    card = json.loads(as_json.stdout)
    assert card["unlabeled"]["size"] == 20166 and card["unlabeled"]["class_counts"] == FASHION_POOL
    unavailable = CliRunner().invoke(app, ["show", "dataset", "cifar10-lt", "--data-root", str(tmp_path)])
    assert unavailable.exit_code == 0, unavailable.output
    assert re.search(r"^unlabeled \(expected\) +16,810 rows, long-tail mix \(ratio 5\); per class 0 / 2003 ",
                     unavailable.stdout, re.M)
