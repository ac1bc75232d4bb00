"""The dataset suites: what they hold, their per-dataset training settings, and how a run records a
dataset whose data is unavailable."""

from __future__ import annotations

import pytest

from benchmark.datasets import dataset_registry
from benchmark.errors import BenchmarkError
from benchmark.protocol import Budget
from benchmark.suites import KEEL_SELECTION, Suite, suite_registry
from benchmark.training.base import TrainingConfig


@pytest.mark.parametrize("name", ["vision-lt", "vision-lt-cpu", "text", "tabular", "tabular-cpu", "smoke"])
def test_every_suite_dataset_is_registered_and_has_training_settings(name):
    suite = suite_registry.get(name)
    for entry in dataset_registry.resolve(suite.datasets):
        config = suite.training_for(entry.name, entry.modality)
        assert config.epochs >= 1
    assert suite.card()["dataset_training"].keys() <= set(suite.datasets)


def test_vision_lt_settings():
    suite = suite_registry.get("vision-lt")
    assert suite.datasets == ("mnist-lt", "fashion-mnist-lt", "cifar10-lt", "cifar100-lt")
    assert all(dataset_registry.get(d).params["rho"] == 100 for d in suite.datasets)
    cifar = suite.training_for("cifar100-lt", "image")
    assert (cifar.model, cifar.optimizer, cifar.epochs, cifar.batch_size) == ("resnet32", "sgd", 200, 128)
    small = suite.training_for("fashion-mnist-lt", "image")
    assert small.model == "small-cnn" and small.epochs < cifar.epochs
    assert suite.tune == ("lr", "weight_decay") and suite.budget == Budget(trials=20, seeds=3)


def test_tabular_selection_spans_the_imbalance_ratios():
    suite = suite_registry.get("tabular")
    ratios = sorted(dataset_registry.get(d).stats["imbalance_ratio"] for d in KEEL_SELECTION)
    assert 18 <= len(set(KEEL_SELECTION)) == len(KEEL_SELECTION) <= 25
    assert ratios[0] < 3 and ratios[-1] > 100
    bands = [(0, 3), (3, 9), (9, 20), (20, 50), (50, 100), (100, 1e9)]
    assert all(any(lo <= r < hi for r in ratios) for lo, hi in bands)
    assert any(dataset_registry.get(d).stats["nominal_features"] for d in KEEL_SELECTION)
    assert sum(d.startswith("imblearn-") for d in suite.datasets) == 27
    assert set(suite_registry.get("tabular-cpu").datasets) == set(KEEL_SELECTION)


def test_training_for_falls_back_to_the_modality_and_rejects_strays():
    base = dict(name="t", description="", datasets=("digits-lt",), methods=None, budget=Budget(1, 1),
                training={"image": TrainingConfig(epochs=3)})
    suite = Suite(**base, dataset_training={"digits-lt": TrainingConfig(epochs=7)})
    assert suite.training_for("digits-lt", "image").epochs == 7
    assert Suite(**base).training_for("digits-lt", "image").epochs == 3
    with pytest.raises(BenchmarkError, match="no training settings for text data"):
        Suite(**base).training_for("sms-spam", "text")
    with pytest.raises(BenchmarkError, match=r"does not hold: \['cifar10-lt'\]"):
        Suite(**base, dataset_training={"cifar10-lt": TrainingConfig()})


def test_run_records_unavailable_data_with_files_and_source(tmp_path, monkeypatch):
    """No training happens: the dataset's files are absent and downloads are off."""
    from benchmark.run import RunOptions, run_suite
    from benchmark.store import Store

    monkeypatch.setenv("BENCHMARK_OFFLINE", "1")
    storage = f"sqlite:///{tmp_path / 'results.db'}"
    (tmp_path / "data").mkdir()
    summary = run_suite(RunOptions(suite="vision-lt", datasets=["cifar10-lt", "cifar100-lt"], methods=["baseline"],
                                   storage=storage, data_root=str(tmp_path / "data"), device="cpu",
                                   skip_missing_data=True))
    assert summary.statuses == {"data-unavailable": 2}
    reasons = {p.dataset: p.reason for p in Store(storage).pairs("vision-lt")}
    assert "cifar-10-batches-py/data_batch_1" in reasons["cifar10-lt"]
    assert "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz" in reasons["cifar100-lt"]
