"""The split cache: file names bounded whatever the dataset's name, and an entry that is edited, foreign or
holds a pickle is discarded (with a note) and rebuilt, never served."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from benchmark.datasets.base import Dataset, LoadRequest, Split
from benchmark.datasets.split import CacheEntryMismatch, holdout_split


def tiny_table(request: LoadRequest) -> Split:
    rng = request.rng("data")
    y = np.repeat([0, 1], [40, 10])
    X = rng.normal(size=(len(y), 3)).astype(np.float32)
    return holdout_split(request.name, "tabular", request, X, y, ["negative", "positive"], info={},
                         feature_kinds=["numeric"] * 3)


def entry(name: str = "tiny") -> Dataset:
    return Dataset(name=name, builder=tiny_table, modality="tabular", num_classes=2, source="tests",
                   description="tiny", params={"test_fraction": 0.3, "val_fraction": 0.25})


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHMARK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("name", ["x" * 300, "données/à ÿ:*?\"<>| " * 20, "..hidden", "/"])
def test_any_name_gives_a_bounded_valid_cache_file(name, tmp_path, cache):
    dataset = entry(name)
    first = dataset.load(tmp_path, 0)  # failed before with 'File name too long' (300 characters)
    (path,) = cache.glob("*.npz")
    assert len(path.name) <= 80 and path.name == f"{dataset.cache_key(0, tmp_path)}.npz"
    assert not path.name.startswith(".") and set(path.stem) <= set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    assert dataset.load(tmp_path, 0).fingerprint() == first.fingerprint()
    assert len(list(cache.iterdir())) == 1  # served from the cache: nothing rebuilt or added


def test_names_that_share_a_slug_get_their_own_entries(tmp_path, cache):
    long_a, long_b = "a" * 300 + "-one", "a" * 300 + "-two"
    assert entry(long_a).cache_key(0) != entry(long_b).cache_key(0)
    entry(long_a).load(tmp_path, 0)
    entry(long_b).load(tmp_path, 0)
    assert len(list(cache.glob("*.npz"))) == 2


def edited(path, change) -> None:
    """Rewrite the .npz at ``path`` with one array changed by ``change`` and every other member as it was
    (its recorded checksum included): what a hand edit of the cache leaves."""
    with np.load(path, allow_pickle=False) as data:
        members = {k: data[k] for k in data.files}
    change(members)
    with open(path, "wb") as fh:
        np.savez(fh, **members)


def test_an_edited_cache_entry_is_discarded_with_a_note_and_the_original_split_served(tmp_path, cache, caplog):
    dataset = entry()
    original = dataset.load(tmp_path, 0)
    (path,) = cache.glob("*.npz")

    def relabel(members):
        members["train_y"] = np.zeros_like(members["train_y"])  # every training row now of class 0

    edited(path, relabel)
    with pytest.raises(CacheEntryMismatch, match="does not match its recorded checksum"):
        Split.load(path)
    with caplog.at_level(logging.WARNING, logger="benchmark.datasets.base"):
        again = dataset.load(tmp_path, 0)
    assert again.fingerprint() == original.fingerprint() and again.class_counts("train") == [21, 5]
    assert f"split cache entry {path} discarded and rebuilt" in caplog.text and "checksum" in caplog.text
    assert Split.load(path).fingerprint() == original.fingerprint()  # rebuilt in place


def test_an_entry_of_another_key_is_not_served(tmp_path, cache, caplog):
    dataset = entry()
    seed0, seed1 = dataset.load(tmp_path, 0), dataset.load(tmp_path, 1)
    assert seed0.fingerprint() != seed1.fingerprint()
    path0 = cache / f"{dataset.cache_key(0, tmp_path)}.npz"
    os.replace(cache / f"{dataset.cache_key(1, tmp_path)}.npz", path0)  # seed 1's entry under seed 0's name
    with caplog.at_level(logging.WARNING, logger="benchmark.datasets.base"):
        assert dataset.load(tmp_path, 0).fingerprint() == seed0.fingerprint()
    assert "built for another" in caplog.text


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_cache_entry_holding_a_pickle_is_never_unpickled(tmp_path, cache):
    dataset = entry()
    original = dataset.load(tmp_path, 0)
    (path,) = cache.glob("*.npz")
    marker = tmp_path / "ran"

    def poison(members):
        members["train_X"] = np.array([Payload(marker)], dtype=object)  # stored by np.savez as a pickle

    edited(path, poison)
    assert dataset.load(tmp_path, 0).fingerprint() == original.fingerprint()
    assert not marker.exists()


def test_an_entry_without_a_checksum_is_rebuilt(tmp_path, cache):
    dataset = entry()
    original = dataset.load(tmp_path, 0)
    (path,) = cache.glob("*.npz")
    edited(path, lambda members: members.pop("checksum"))  # as the files of split format 3 were
    assert dataset.load(tmp_path, 0).fingerprint() == original.fingerprint()
    assert Split.load(path).fingerprint() == original.fingerprint()
