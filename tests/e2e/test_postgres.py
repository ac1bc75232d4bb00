"""Scale-out on PostgreSQL (acceptance check 3): two processes on one database complete one study
between them with exactly the budget, and each seed re-run once.

Needs a real server: set ``BENCHMARK_TEST_POSTGRES_URL`` (e.g.
``postgresql+psycopg://bench:bench@localhost:5432/bench_test``); skipped otherwise.
"""

from __future__ import annotations

import multiprocessing
import os
import uuid

import optuna
import pytest
from optuna.trial import TrialState

from benchmark.protocol import Budget
from benchmark.run import RunOptions, run_suite
from benchmark.store import Store, optuna_storage
from benchmark.suites import Suite
from benchmark.training.base import TrainingConfig

URL = os.environ.get("BENCHMARK_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="BENCHMARK_TEST_POSTGRES_URL is not set to a PostgreSQL database")


def worker(options: RunOptions, barrier) -> None:
    barrier.wait(timeout=300)  # both processes start their loop together, whatever their import times
    run_suite(options)


def test_two_processes_share_one_study_with_exactly_the_budget(data_root):
    name = f"pg-{uuid.uuid4().hex[:8]}"  # a fresh suite name: the database may hold earlier runs
    suite = Suite(name=name, description="test", datasets=("keel-glass1",), methods=("baseline",),
                  budget=Budget(trials=6, seeds=2),
                  training={"tabular": TrainingConfig(epochs=10, batch_size=32, lr=3e-3)}, tune=("lr",))
    options = RunOptions(suite=suite, storage=URL, data_root=str(data_root), device="cpu", pruner="none")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    processes = [ctx.Process(target=worker, args=(options, barrier)) for _ in range(2)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=600)
    assert [p.exitcode for p in processes] == [0, 0]

    study = optuna.load_study(study_name=f"{name}::keel-glass1::baseline", storage=optuna_storage(URL, 10))
    counted = [t for t in study.trials if t.number < 6]
    assert sorted(t.number for t in counted) == list(range(6))
    assert all(t.state == TrialState.COMPLETE for t in counted)
    refused = [t for t in study.trials if t.number >= 6]  # a worker that asked after the last slot went
    assert all(t.state == TrialState.FAIL and t.user_attrs["failure"] == "over budget" for t in refused)
    workers = {t.user_attrs["worker"] for t in counted}
    assert {int(w.rpartition(":")[2]) for w in workers} == {p.pid for p in processes}  # both took trials

    store = Store(URL)
    rows = store.seed_rows(name, "keel-glass1", "baseline")
    assert sorted((r.seed, r.status) for r in rows) == [(0, "ok"), (1, "ok")]
    pair = store.get_pair(name, "keel-glass1", "baseline")
    assert (pair.status, pair.spent["trials"], pair.spent["complete"]) == ("complete", 6, 6)
