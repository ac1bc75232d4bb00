"""The plan's measurements beside the calibrated steps (:mod:`benchmark.run.pilot`): the pilot pair, stacked rates,
generators and classical fits, timed by running the run's own code; nothing written where a user keeps data."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.datasets import dataset_registry
from benchmark.datasets.base import DataPart, Split
from benchmark.methods import method_registry
from benchmark.protocol import Budget
from benchmark.run import RunOptions
from benchmark.run.calibration import StepShape, Workload, synthetic_split
from benchmark.run.cost import plan_cost
from benchmark.run.pilot import (
    classical_fit_seconds,
    generator_cost,
    recipes_stack,
    run_pilot,
    stacked_rate,
    timing_split,
)
from benchmark.training.base import TrainingConfig


def imbalanced_table(rows: int = 240, minority: int = 40, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)

    def part(n: int, m: int) -> DataPart:
        y = (np.arange(n) < m).astype(np.int64)
        return DataPart((rng.standard_normal((n, 4)) + y[:, None]).astype(np.float32), y)

    return Split("tiny-table", "tabular", ["majority", "minority"], part(rows, minority), part(60, 10), part(60, 10),
                 minority_classes=[1])


def test_the_pilot_runs_a_whole_pair_and_counts_what_its_steps_leave(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = TrainingConfig(epochs=3, batch_size=64, lr=1e-3)
    pilot = run_pilot(config, Budget(trials=4, seeds=2), ("weight_decay",), 2, 8, True, "cpu", 2, 30, 60)
    assert pilot.fits == 6 and pilot.seconds > 0 and pilot.fit_seconds == pytest.approx(pilot.seconds / 6)
    assert list(tmp_path.iterdir()) == []  # its store was a temporary file


def test_stacked_rates_exist_where_mlp_trials_stack_exactly():
    config = TrainingConfig(epochs=3, batch_size=64, lr=1e-3, model="mlp")
    table = synthetic_split(Workload(StepShape("mlp", (8,), 64, "features"), 2, 500, 100, config), "cpu")
    assert stacked_rate(table, config, 4, "cpu") > 0
    assert stacked_rate(table, config, 1, "cpu") is None  # one member is not a stack
    images = synthetic_split(Workload(StepShape("small-cnn", (1, 8, 8), 64, "image"), 2, 500, 100, config), "cpu")
    assert stacked_rate(images, TrainingConfig(epochs=3, model="small-cnn"), 4, "cpu") is None


def test_which_pairs_stack_follows_the_stacking_rule():
    split = imbalanced_table()
    config = TrainingConfig(epochs=3, model="mlp")
    assert recipes_stack(method_registry.get("baseline"), split, config)
    assert recipes_stack(method_registry.get("smote"), split, config)  # resampled sets of unequal size stack too
    assert not recipes_stack(method_registry.get("mixup"), split, config)  # an augment hook: per-trial randomness


def test_sparse_text_trials_train_one_by_one_under_exact_stacking(data_root):
    split = dataset_registry.get("sms-spam-mini").load(data_root)
    config = TrainingConfig(epochs=2, model="mlp", tfidf_max_features=500)
    assert not recipes_stack(method_registry.get("baseline"), split, config, "cpu", exact_only=True)
    assert recipes_stack(method_registry.get("baseline"), split, config, "cpu", exact_only=False)


def test_a_generator_is_timed_in_a_cache_of_its_own(tmp_path, monkeypatch):
    user_cache = tmp_path / "cache"
    user_cache.mkdir()
    monkeypatch.setenv("BENCHMARK_CACHE", str(user_cache))
    config = TrainingConfig(epochs=2, batch_size=32, model="mlp", generator_epochs=30, generator_batch_size=32)
    start, per_sample = generator_cost(method_registry.get("tabddpm-oversampling"), imbalanced_table(), config, "cpu")
    assert start >= 0 and per_sample >= 0 and start + per_sample > 0
    assert list(user_cache.iterdir()) == []  # nothing written where the user keeps generators
    import os

    assert os.environ["BENCHMARK_CACHE"] == str(user_cache)  # restored
    assert generator_cost(method_registry.get("baseline"), imbalanced_table(), config, "cpu") is not None


def test_a_timing_split_keeps_every_class_in_its_share():
    split = imbalanced_table(rows=2000, minority=100)
    cut = timing_split(split, rows=200)
    assert len(cut.train) == 200 and cut.class_counts("train") == [190, 10]
    assert timing_split(cut, rows=500) is cut  # small enough already


def test_a_classical_fit_is_timed_on_its_engine(data_root):
    split = dataset_registry.get("keel-yeast3").load(data_root)
    assert classical_fit_seconds(method_registry.get("balanced-random-forest"), split, TrainingConfig()) > 0


@pytest.mark.slow  # times generators and classical fits on real tables: several seconds
def test_a_plan_estimates_generative_and_classical_pairs_too(data_root, tmp_path):
    plan = RunOptions(suite="smoke", methods=["baseline", "tabddpm-oversampling", "balanced-random-forest"],
                      datasets=["keel-yeast3"], storage=f"sqlite:///{tmp_path / 'absent.db'}", data_root=str(data_root),
                      device="cpu", plan_only=True).resolve()
    cost = plan_cost(plan)
    record = cost.record()
    assert record["totals"]["unestimated_pairs"] == 0
    assert set(record["generators"]) == {"tabddpm-oversampling"} and set(record["classical"]) == {"balanced-random-forest"}
    by_method = {p["method"]: p for p in record["pairs"] if p["split_seed"] == 0}
    assert by_method["baseline"]["stacked"] and not by_method["balanced-random-forest"]["stacked"]
    # a generative pair costs its fits plus its generators; the same fits without them cost less
    assert by_method["tabddpm-oversampling"]["device_seconds"] > by_method["baseline"]["device_seconds"] * 0.5
    assert record["wall_hours"] == pytest.approx(cost.device_hours() / plan.options.workers, abs=1e-3)
    assert not (tmp_path / "absent.db").exists()
