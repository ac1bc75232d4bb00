"""The Ray executor (acceptance check 4): a tiny suite run as Ray tasks on a local Ray instance gives
results identical in structure to the local executor's, from the same trial configurations."""

from __future__ import annotations

import os

import optuna
import pytest

from benchmark.protocol import Budget
from benchmark.run import RunOptions, run_suite
from benchmark.store import Store, optuna_storage
from benchmark.suites import Suite
from benchmark.training.base import TrainingConfig

ray = pytest.importorskip("ray")

SUITE = Suite(name="ray-tiny", description="test", datasets=("keel-glass1",),
              methods=("baseline", "balanced-random-forest", "mixup"), budget=Budget(trials=3, seeds=2),
              training={"tabular": TrainingConfig(epochs=3, batch_size=32, lr=3e-3)}, tune=("lr",))


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def shape(url: str) -> dict:
    """Everything about a run's stored results except the measured values."""
    store = Store(url)
    storage = optuna_storage(url, 10)
    pairs = {}
    for p in store.pairs("ray-tiny"):
        trials = optuna.load_study(study_name=p.study_name, storage=storage).trials if p.study_name else []
        pairs[p.dataset, p.method] = {
            "status": p.status, "engine": p.engine, "budget": p.budget, "spent_keys": sorted(p.spent),
            "trials": p.spent.get("trials"), "best_param_keys": sorted(p.best_params or {}),
            # concurrent tasks may ask for a trial beyond the budget (refused, not counted): compare the budget's
            "trial_params": [t.user_attrs.get("params") for t in sorted(trials, key=lambda t: t.number)
                             if t.number < SUITE.budget.trials],
        }
    rows = {(r.dataset, r.method, r.seed): {
        "status": r.status, "metric_keys": sorted(r.metrics), "val_metric_keys": sorted(r.val_metrics),
        "per_class_keys": sorted(r.per_class), "artifact_keys": sorted(r.artifacts),
        "timing_keys": sorted(r.timings), "provenance_keys": sorted(r.provenance),
    } for r in store.results("ray-tiny", include_running=True)}
    return {"pairs": pairs, "rows": rows}


def test_ray_executor_matches_the_local_executor_in_structure(tmp_path, data_root, local_ray):
    # Ray runs a task per trial and seed, never a stacked model: compare with the local executor unstacked
    # (stacked seed rows carry the stack's timings, stacked_trials and the shared CPU seconds)
    common = dict(suite=SUITE, data_root=str(data_root), device="cpu", stack_trials=1)
    local = RunOptions(storage=f"sqlite:///{tmp_path / 'local.db'}", **common)
    on_ray = RunOptions(storage=f"sqlite:///{tmp_path / 'ray.db'}", executor="ray", workers=2, **common)
    assert run_suite(local).statuses == run_suite(on_ray).statuses == {"complete": 2, "not-applicable": 1}
    expected, got = shape(local.storage), shape(on_ray.storage)
    assert got == expected
    assert len(got["rows"]) == 4 and all(r["status"] == "ok" for r in got["rows"].values())
    # the trials ran in Ray's worker processes, not in this (driver) process
    storage = optuna_storage(on_ray.storage, 10)
    trials = optuna.load_study(study_name="ray-tiny::keel-glass1::baseline", storage=storage).trials
    pids = {int(t.user_attrs["worker"].rpartition(":")[2]) for t in trials}
    assert pids and os.getpid() not in pids


def test_ray_executor_resumes_without_repeating_work(tmp_path, data_root, local_ray):
    options = RunOptions(suite=SUITE, methods=["baseline"], storage=f"sqlite:///{tmp_path / 'ray.db'}",
                         data_root=str(data_root), device="cpu", executor="ray")
    assert run_suite(options).statuses == {"complete": 1}
    ids = {r.id for r in Store(options.storage).results("ray-tiny")}
    again = run_suite(options)
    assert again.skipped == 1 and again.statuses == {}
    assert {r.id for r in Store(options.storage).results("ray-tiny")} == ids
