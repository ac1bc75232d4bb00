"""What a pair is charged: the two kinds of interruption in the slot rule (issue 28: the run's own kills
are never charged; a worker's own deaths are, after a bounded number of retries), how a dead worker's
trial is told apart, the :class:`~benchmark.tuning.budget.Spent` record through the store (old rows
included), the cost rule, and no reader of ``spent`` left reading it by string key."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import benchmark
from benchmark.protocol import Budget
from benchmark.store import Store
from benchmark.store.liveness import run_id, worker_id
from benchmark.tuning import study as study_module
from benchmark.tuning.budget import (
    INTERRUPTED,
    RETRIES_PER_SLOT,
    RUN,
    SLOT,
    WORKER_DIED,
    Spent,
    charged_trials,
    open_slot,
    row_cost_seconds,
    spent,
)
from benchmark.tuning.study import fail_interrupted_trials

GONE = 2**22 + 7  # beyond pid_max: a process that is gone


def add_trial(study, slot=None, state=TrialState.COMPLETE, failure=None):
    trial = study.ask()
    if slot is not None:
        trial.set_user_attr(SLOT, slot)
    if failure is not None:
        trial.set_user_attr("failure", failure)
    if state != TrialState.RUNNING:
        study.tell(trial, 0.5 if state == TrialState.COMPLETE else None, state=state)
    return trial.number


def test_the_runs_own_interruptions_are_never_charged_and_a_workers_deaths_are_after_its_retries():
    # Issue 28: slot 0 interrupted six times by kills of the whole run; the seventh try completes. Every
    # kill is the run's misfortune: none is charged, the slot stays open, the pair keeps its budget.
    study = optuna.create_study(direction="maximize")
    for _ in range(RETRIES_PER_SLOT + 4):
        add_trial(study, 0, TrialState.FAIL, f"{INTERRUPTED}: its worker process {GONE} died and its run stopped")
        assert open_slot(study.get_trials(deepcopy=False), 2) == 0
    last = add_trial(study, 0)
    add_trial(study, 1)
    used = spent(study, Budget(trials=2, seeds=1))
    assert [t.number for t in charged_trials(study.get_trials(deepcopy=False), 2)] == [last, last + 1]
    assert (used.trials, used.complete, used.failed, used.interrupted, used.worker_deaths) == (
        2, 2, 0, RETRIES_PER_SLOT + 4, 0)

    # Slot 0's worker dies while its run goes on (an out-of-memory kill of that configuration), between
    # kills of the run: the kills use none of its retries; its own deaths are forgiven RETRIES_PER_SLOT
    # times, and the next one holds the slot, charged as a failure with its reason.
    study = optuna.create_study(direction="maximize")
    death = f"{WORKER_DIED}: its worker process {GONE} was killed by SIGKILL"
    kill = f"{INTERRUPTED}: Ctrl-C"
    for _ in range(RETRIES_PER_SLOT):
        add_trial(study, 0, TrialState.FAIL, death)
        add_trial(study, 0, TrialState.FAIL, kill)
    assert open_slot(study.get_trials(deepcopy=False), 1) == 0  # still open: retries left
    charged = add_trial(study, 0, TrialState.FAIL, death)
    assert open_slot(study.get_trials(deepcopy=False), 1) is None
    assert [t.number for t in charged_trials(study.get_trials(deepcopy=False), 1)] == [charged]
    used = spent(study, Budget(trials=1, seeds=1))
    assert (used.trials, used.failed, used.interrupted, used.worker_deaths, used.failures) == (
        1, 1, RETRIES_PER_SLOT, RETRIES_PER_SLOT + 1, (death,))


@pytest.fixture
def settle(monkeypatch):
    monkeypatch.setattr(study_module, "SETTLE_SECONDS", 0.3)
    study_module._death_seen.clear()


def running_trial(study, worker: str, run: str | None) -> int:
    trial = study.ask()
    trial.set_user_attr(SLOT, trial.number)
    if run is not None:
        trial.set_user_attr(RUN, run)
    trial.set_user_attr("worker", worker)
    return trial.number


def test_a_dead_worker_is_the_runs_interruption_unless_its_run_went_on_without_it(settle):
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), direction="maximize")
    with_run = running_trial(study, worker_id(GONE), run=worker_id(GONE + 1))   # its run is gone too
    own = running_trial(study, worker_id(GONE), run=worker_id(GONE))            # it was the run's process
    legacy = running_trial(study, worker_id(GONE), run=None)                    # stored before runs were
    alone = running_trial(study, worker_id(GONE), run=worker_id())              # its run (this one) goes on
    assert sorted(fail_interrupted_trials(study, grace=60)) == [with_run, own, legacy]
    assert study.trials[alone].state == TrialState.RUNNING  # a kill of the whole run reaches us within the settle
    time.sleep(0.35)
    assert fail_interrupted_trials(study, grace=60) == [alone]
    reasons = {t.number: t.user_attrs["failure"] for t in study.get_trials(deepcopy=False)}
    assert all(reasons[n].startswith(INTERRUPTED) for n in (with_run, own, legacy))
    assert reasons[alone] == (f"{WORKER_DIED}: its worker process {GONE} died while its run "
                              f"(process {os.getpid()}) went on")
    used = spent(study, Budget(trials=4, seeds=1))
    assert (used.interrupted, used.worker_deaths, used.failed, used.trials) == (3, 1, 0, 0)


@pytest.mark.slow  # starts processes (the CLI or workers): seconds, kept out of -m 'not slow'
def test_a_trial_records_its_run_a_pool_worker_its_parent():
    """A --workers process is told its run (the pool's process); any other multiprocessing child that runs
    a suite (a test harness, a user's own pool) is its own run, so killing it is a kill of the run."""
    import multiprocessing

    assert run_id() == worker_id()  # this process runs itself
    ctx = multiprocessing.get_context("spawn")
    got = {}
    for told in (True, False):
        queue = ctx.Queue()
        child = ctx.Process(target=_report_run_id, args=(queue, os.getpid() if told else None))
        child.start()
        got[told] = queue.get(timeout=120)
        child.join(timeout=60)
        assert got[told] == (worker_id() if told else worker_id(child.pid))


def _report_run_id(queue, run: int | None) -> None:
    from benchmark.store.liveness import join_run

    if run is not None:
        join_run(run)  # what benchmark.run.pool.worker_main does first
    queue.put(run_id())


def test_the_spent_record_goes_through_the_store_and_old_rows_read_with_defaults(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    used = Spent(trials=3, complete=2, failed=1, seconds=4.5, wall_seconds=3.0, epochs=7, samples=700, steps=20,
                 failures=("RuntimeError: boom",), interrupted=2, worker_deaths=1, stopped_by="trials")
    store.update_pair("s", "d", "m", spent=used.record())
    assert Spent.from_record(store.pairs("s")[0].spent) == used
    # A row written before worker deaths were told apart (and before samples and steps were counted).
    old = {"trials": 2, "complete": 1, "pruned": 0, "failed": 1, "running": 0, "seconds": 3.25,
           "wall_seconds": 2.0, "epochs": 10, "failures": ["ValueError: x"], "interrupted": 4,
           "stopped_by": "trials", "retired_key": 1}
    store.update_pair("s", "d", "old", spent=old)
    read = Spent.from_record(store.get_pair("s", "d", "old").spent)
    assert read == Spent(trials=2, complete=1, failed=1, seconds=3.25, wall_seconds=2.0, epochs=10,
                         failures=("ValueError: x",), interrupted=4, stopped_by="trials")
    assert (read.samples, read.worker_deaths, read.finished) == (None, 0, 2)
    # A pair that never tuned, a column that is not an object, values of the wrong type: defaults.
    assert Spent.from_record({}) == Spent.from_record(None) == Spent.from_record([1, 2]) == Spent()
    assert Spent.from_record({"trials": "many", "seconds": "1.5", "failures": "boom"}) == Spent(seconds=1.5)


def test_a_rows_cost_is_its_tuning_plus_its_reruns_with_a_cached_generators_training():
    tuning = [Spent(seconds=10.0), Spent(seconds=2.5)]  # two split seeds
    reruns = [{"total_seconds": 3.0}, {"total_seconds": 1.0, "generator_cached_seconds": 4.0}, {}]
    assert row_cost_seconds(tuning, reruns) == pytest.approx(20.5)


# Reading the spent record by string key: ``spent["trials"]``, ``used.get("seconds")``, ``row.spent or {}``.
STRING_KEY_READ = re.compile(r"""\b(?:spent|used)\s*(?:\[\s*["']|\.get\(\s*["'])|\bspent\s+or\s+\{\}""")


def test_no_reader_of_the_spent_record_reads_it_by_string_key():
    package = Path(benchmark.__file__).resolve().parent
    found = [f"{path.relative_to(package.parent)}:{n}: {line.strip()}"
             for path in sorted(package.rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if STRING_KEY_READ.search(line)]
    assert found == [], "read benchmark.tuning.budget.Spent's fields instead (Spent.from_record for a stored row)"
    assert STRING_KEY_READ.search('counts = f"{spent[\'complete\']} done"')  # the pattern finds what it should
    assert STRING_KEY_READ.search("used = row.spent or {}")


def test_the_generator_budget_has_one_home_and_counts_its_samples():
    from benchmark.methods.base import GeneratorBudget
    from benchmark.training.base import TrainingConfig

    config = TrainingConfig(epochs=1, batch_size=8, lr=1e-3)
    assert config.generator_budget == GeneratorBudget()  # the suite's default is the budget's own
    budget = TrainingConfig(epochs=1, batch_size=8, lr=1e-3, generator_epochs=3, generator_batch_size=16).generator_budget
    assert (budget.samples(100), budget.steps(100)) == (300, 19)  # what run --plan counts per generator
