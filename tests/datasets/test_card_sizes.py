"""``Dataset.split_sizes``: the split a dataset's card predicts is the split its loader builds (one hold-out
rule, one home for the fractions), and the plan's old copy of the rule is gone."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from benchmark.datasets import CardStats, dataset_registry
from benchmark.datasets.files import file_dataset
from benchmark.protocol import HOLDOUT_FRACTIONS

# Sets with their data under BENCHMARK_DATA (or generated, or shipped): tables, texts and long-tail images.
WITH_DATA = ["keel-yeast3", "keel-glass1", "keel-abalone19", "keel-ecoli-0-1-3-7_vs_2-6", "sms-spam-mini",
             "sms-spam", "synthetic-binary", "digits-lt", "fashion-mnist-lt-mini", "fashion-mnist-lt-r10"]


def actual(split) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(split.class_counts(p)) for p in ("train", "val", "test"))


def predicted(entry) -> tuple[tuple[int, ...], ...]:
    sizes = entry.split_sizes()
    return sizes.train, sizes.val, sizes.test


@pytest.mark.parametrize("name", WITH_DATA)
def test_the_card_predicts_the_loaded_split(name, data_root):
    entry = dataset_registry.get(name)
    for split_seed in (0, 1):
        assert predicted(entry) == actual(entry.load(data_root, split_seed)), (name, split_seed)


@pytest.mark.parametrize("name", ["keel-yeast3", "sms-spam-mini", "digits-lt"])
def test_the_fractions_have_one_home(name, data_root):
    """Without fractions in its parameters, a dataset's loader and its card both use the modality's
    defaults (:data:`benchmark.protocol.HOLDOUT_FRACTIONS`)."""
    entry = dataset_registry.get(name)
    params = {k: v for k, v in entry.params.items() if k not in ("test_fraction", "val_fraction")}
    bare = replace(entry, name=f"{name}-defaults", params=params)
    test, val = HOLDOUT_FRACTIONS[entry.modality]
    sizes = bare.split_sizes()
    assert predicted(bare) == actual(bare.load(data_root, 0, cache=False))
    rest = [a + b for a, b in zip(sizes.train, sizes.val, strict=True)]
    assert sizes.val == tuple(min(max(1, round(val * n)), n - 1) for n in rest)
    if entry.modality != "image":  # long-tail sets keep their official test set
        everything = [a + b for a, b in zip(rest, sizes.test, strict=True)]
        assert sizes.test == tuple(min(max(1, round(test * n)), n - 1) for n in everything)


def test_a_file_dataset_card_predicts_its_split(tmp_path):
    rng = np.random.default_rng(0)
    pd.DataFrame({"x": rng.normal(size=93), "y": rng.normal(size=93),
                  "label": ["a"] * 61 + ["b"] * 23 + ["c"] * 9}).to_csv(tmp_path / "t.csv", index=False)
    entry = file_dataset(tmp_path / "t.csv", target="label")
    assert predicted(entry) == actual(entry.load(tmp_path, 0, cache=False))


def test_the_card_split_has_the_predicted_counts_and_shape():
    entry = dataset_registry.get("cifar100-lt")  # no data needed: its card alone
    split, sizes = entry.card_split(), entry.split_sizes()
    assert actual(split) == predicted(entry) and split.train.X.shape[1:] == (3, 32, 32)
    assert len(split.train) == sizes.rows("train") == 10847 - sum(sizes.val) and split.info["card"]
    assert entry.input_shape() == (3, 32, 32) and split.unlabeled is not None
    table = dataset_registry.get("imblearn-abalone")
    assert table.card_split().feature_kinds == ["numeric"] * 10 and table.input_shape() == (10,)
    assert isinstance(table.stats, CardStats) and table.stats["class_counts"] == list(table.stats.class_counts)


def test_a_card_without_counts_predicts_nothing():
    bare = replace(dataset_registry.get("keel-yeast3"), stats={"note": "counts unknown"})
    assert isinstance(bare.stats, CardStats) and bare.stats["note"] == "counts unknown"
    assert bare.split_sizes() is None and bare.card_split() is None


def test_the_plan_has_no_copy_of_the_split_rule():
    assert importlib.util.find_spec("benchmark.run.dataset_sizes") is None
