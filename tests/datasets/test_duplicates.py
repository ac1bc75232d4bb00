"""Duplicate-aware splits: duplicate rows are grouped so that a group lies in one part of a split, on
hand-made data and on every shipped dataset (no test row equals a training or validation row)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmark.datasets import dataset_registry
from benchmark.datasets.base import LoadRequest
from benchmark.datasets.vision import long_tail_split
from benchmark.protocol import (
    balanced_holdout,
    duplicate_groups,
    duplicate_summary,
    normalise_text,
    rows_in,
    stratified_holdout,
)


def hashed_rows(X: np.ndarray) -> set[bytes]:
    """Row keys as bytes (texts normalised as the splits compare them): fast set intersection."""
    if X.dtype.kind in "UO":
        return {normalise_text(str(t)).encode() for t in X}
    X = np.ascontiguousarray(np.where(X == 0, 0, X) if X.dtype.kind == "f" else X).reshape(len(X), -1)
    return {row.tobytes() for row in X}


def assert_no_test_row_in_training(split) -> None:
    test = hashed_rows(split.test.X)
    seen = hashed_rows(split.train.X) | hashed_rows(split.val.X)
    shared = test & seen
    assert not shared, f"{split.dataset}: {len(shared)} test rows also in training or validation"
    assert not (hashed_rows(split.train.X) & hashed_rows(split.val.X)), f"{split.dataset}: validation row in train"


def test_groups_are_numbered_by_their_first_row_and_texts_are_normalised():
    X = np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [-0.0, np.nan], [0.0, np.nan]], dtype=np.float32)
    assert duplicate_groups(X).tolist() == [0, 1, 0, 3, 3]  # -0.0 == 0.0 and NaN == NaN
    texts = np.array(["Call me  now", "call me now ", "CALL ME NOW!", "ok"])
    assert duplicate_groups(texts).tolist() == [0, 0, 2, 3]
    summary = duplicate_summary(duplicate_groups(X), np.array([0, 0, 1, 1, 1]))
    assert summary == {"duplicate_rows": 2, "groups": 2, "rows_grouped": 4, "conflicting_groups": 1}


def test_a_group_lies_in_one_part_and_the_classes_keep_their_shares():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 30, size=(300, 1)).astype(np.float32)  # about 30 values: every row has twins
    y = (X[:, 0] < 6).astype(np.int64)
    groups = duplicate_groups(X)
    kept, held = stratified_holdout(y, 0.3, np.random.default_rng(1), groups=groups)
    assert not set(X[kept, 0]) & set(X[held, 0])
    assert sorted(np.concatenate([kept, held]).tolist()) == list(range(300))
    for c in (0, 1):  # whole groups only, so the share is near 0.3, not exact
        assert abs(np.sum(y[held] == c) / np.sum(y == c) - 0.3) < 0.15


def test_conflicting_labels_go_under_the_rarest_label_and_stay_together():
    X = np.arange(40, dtype=np.float32)[:, None]
    X[30:34] = 99.0  # one group of four rows, two of each class
    y = np.array([0] * 30 + [0, 0, 1, 1] + [1] * 6)
    groups = duplicate_groups(X)
    for seed in range(10):
        kept, held = stratified_holdout(y, 0.5, np.random.default_rng(seed), groups=groups)
        assert set(range(30, 34)) <= set(kept) or set(range(30, 34)) <= set(held)


def test_without_duplicates_the_draw_is_the_one_before_groups_existed():
    y = np.repeat([0, 1, 2], [50, 20, 8])
    for seed in range(5):
        kept, held = stratified_holdout(y, 0.25, np.random.default_rng(seed))
        expected = []
        rng = np.random.default_rng(seed)
        for c in range(3):
            idx = rng.permutation(np.flatnonzero(y == c))
            expected += idx[:min(max(1, round(0.25 * idx.size)), idx.size - 1)].tolist()
        assert held.tolist() == sorted(expected)
        assert balanced_holdout(y, 3, np.random.default_rng(seed))[1].size == 9


def test_long_tail_pool_images_identical_to_test_images_are_removed_and_counted(tmp_path):
    y = np.repeat(np.arange(3), 30)
    X = np.zeros((90, 1, 2, 2), dtype=np.uint8)
    X[:, 0, 0, 0], X[:, 0, 0, 1] = np.arange(90) % 256, 7
    X_test = X[[0, 1, 2, 40, 41]].copy()  # five pool images are also test images
    X_test[:, 0, 1, 1] = 0
    y_test = y[[0, 1, 2, 40, 41]]
    X[5] = X[6]  # and a pair of identical pool images
    request = LoadRequest("tiny-lt", tmp_path, 0, {"rho": 2, "n_max": 20})
    split = long_tail_split("tiny-lt", request, X, y, X_test, y_test, ["a", "b", "c"])
    assert split.info["duplicates"]["removed_from_training"] == 5
    assert_no_test_row_in_training(split)
    assert not rows_in(split.test.X, split.train.X).any()


def shipped_datasets() -> list[str]:
    keel = sorted(n for n in dataset_registry.names() if n.startswith("keel-"))
    return keel + ["sms-spam", "digits-lt", "fashion-mnist-lt-mini"]


@pytest.mark.parametrize("name", shipped_datasets())
def test_no_test_row_equals_a_training_row_on_every_shipped_dataset(name, data_root):
    entry = dataset_registry.get(name)
    if name.startswith("keel-"):  # every KEEL file of the data root is registered
        assert (data_root / entry.files[0]).is_file()
    split = entry.load(data_root, 0)
    assert_no_test_row_in_training(split)
    assert "duplicates" in split.summary()


def test_every_keel_file_of_the_data_root_is_checked(data_root):
    files = {p.name for p in Path(data_root, "keel").glob("*.dat")}
    checked = {dataset_registry.get(n).params["file"] for n in shipped_datasets() if n.startswith("keel-")}
    assert len(files) == 100 and files <= checked


def test_the_cards_report_the_known_duplicates(data_root):
    yeast3 = dataset_registry.get("keel-yeast3").load(data_root, 0).summary()["duplicates"]
    assert yeast3["duplicate_rows"] == 31 and yeast3["groups"] == 31 and yeast3["conflicting_groups"] == 0
    sms = dataset_registry.get("sms-spam").load(data_root, 0).summary()["duplicates"]
    # 403 exact repeats; whitespace and case folding find 12 more
    assert sms["duplicate_rows"] == 415 and "case folding" in sms["compared"]
