"""Issue 15's acceptance check 2: on fashion-mnist-lt-mini every row trains the same compute.

Baseline, random over-sampling, dynamic sampling, class re-organisation sampling, two-stage learning
and SMOTE draw epochs of very different natural lengths (the original split, a longer resampled set,
about 1/C of it, C x the largest class, a balanced subset); stored, each trial, each pair's spent budget
and each seed row says the same training samples and optimiser steps, and the dataset page shows them.
"""

from __future__ import annotations

import optuna
import pytest

from benchmark.protocol import Budget
from benchmark.report import build_report
from benchmark.run import RunOptions, run_suite
from benchmark.store import Store
from benchmark.store.studies import study_name
from benchmark.suites import Suite
from benchmark.training.base import TrainingConfig
from benchmark.training.epochs import epoch_compute

METHODS = ("baseline", "random-oversampling", "dynamic-sampling", "class-reorganisation-sampling",
           "two-stage-learning", "smote")
DATASET = "fashion-mnist-lt-mini"


@pytest.mark.slow
def test_every_row_trains_the_same_samples_and_steps(tmp_path, data_root):
    config = TrainingConfig(epochs=2, batch_size=128, lr=3e-3, model="small-cnn")
    suite = Suite(name="equal-compute", description="test", datasets=(DATASET,), methods=METHODS,
                  budget=Budget(trials=1, seeds=1), training={"image": config})
    options = RunOptions(suite=suite, storage=f"sqlite:///{tmp_path / 'results.db'}", data_root=str(data_root),
                         device="cpu")
    summary = run_suite(options)
    assert summary.statuses == {"complete": len(METHODS)}

    store = Store(options.storage)
    pairs = {p.method: p for p in store.pairs("equal-compute")}
    n_train = sum(pairs["baseline"].info["class_counts"]["train"])  # the original training split's size
    per_epoch_samples, per_epoch_steps = epoch_compute(n_train, config.batch_size)
    expected = (2 * per_epoch_samples, 2 * per_epoch_steps)
    storage = optuna.storages.RDBStorage(options.storage)
    for method in METHODS:
        (trial,) = optuna.load_study(study_name=study_name("equal-compute", DATASET, method), storage=storage).trials
        assert (trial.user_attrs["samples"], trial.user_attrs["steps"]) == expected, method
    rows = {r.method: r for r in store.results("equal-compute")}
    for method in METHODS:
        assert (pairs[method].spent["samples"], pairs[method].spent["steps"]) == expected, method
        timings = rows[method].timings
        assert (timings["train_samples"], timings["train_steps"]) == expected, method
    # the resampled sets themselves differ: compute does not follow the set's size
    assert rows["random-oversampling"].timings["training_rows"] > rows["baseline"].timings["training_rows"] == n_train

    built = build_report(store, "equal-compute", tmp_path / "reports")
    page = (built.folder / "datasets" / f"{DATASET}.html").read_text()
    assert page.count(f'data-sort="{2 * expected[0]}"') == len(METHODS)  # tuning trial + seed re-run, per row
