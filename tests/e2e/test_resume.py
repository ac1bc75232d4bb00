"""Resuming interrupted runs: a worker killed (SIGKILL) in the middle of a trial and of a seed re-run,
Ctrl-C (SIGINT), and a trial orphaned as Optuna created it: the restarted run completes with exactly
the budget, the interrupted trial's configuration and no duplicate rows, without hanging."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import optuna
import pytest
from optuna.trial import TrialState

from benchmark.protocol import Budget
from benchmark.report.history import read_histories
from benchmark.run import RunOptions, run_suite
from benchmark.run.progress import Progress
from benchmark.store import Store, optuna_storage
from benchmark.suites import Suite
from benchmark.training.base import TrainingConfig

RUNNING, FAIL = TrialState.RUNNING, TrialState.FAIL


def suite_of(name: str, datasets: tuple[str, ...], methods: tuple[str, ...], trials: int, seeds: int,
             epochs: int) -> Suite:
    return Suite(name=name, description="test", datasets=datasets, methods=methods,
                 budget=Budget(trials=trials, seeds=seeds),
                 training={"tabular": TrainingConfig(epochs=epochs, batch_size=32, lr=3e-3)}, tune=("lr",))


def run_in_child(options: RunOptions) -> None:
    run_suite(options)


def start(options: RunOptions):
    process = multiprocessing.get_context("spawn").Process(target=run_in_child, args=(options,))
    process.start()
    return process


def wait_for(condition, process, what: str, limit: float = 240.0):
    """Poll ``condition()`` until it returns something true; the child must still be running."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        assert process.is_alive(), f"the run ended (exit code {process.exitcode}) before {what}"
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"timed out waiting for {what}")


def trials_of(url: str, suite: str) -> dict[str, list[optuna.trial.FrozenTrial]]:
    storage = optuna_storage(url, heartbeat=10)
    try:
        names = [s.study_name for s in storage.get_all_studies() if s.study_name.startswith(f"{suite}::")]
    except Exception:  # the tables do not exist yet
        return {}
    return {n: optuna.load_study(study_name=n, storage=storage).get_trials(deepcopy=False) for n in names}


def running_trial(url: str, suite: str, exclude: str | None = None, before_epoch: int = 60):
    """(study, trial) of a trial in the middle of its epochs (far from its end, so that a signal lands in
    training rather than in Optuna's bookkeeping), in a study other than ``exclude``."""
    for name, trials in trials_of(url, suite).items():
        for t in trials:
            if name != exclude and t.state == RUNNING and 1 <= len(t.intermediate_values) <= before_epoch:
                return name, t
    return None


@pytest.fixture(autouse=True)
def live_reports(monkeypatch):
    """These tests watch a trial train from another process: its per-epoch reports reach the store at once
    (benchmark.tuning.writes batches them for up to 5 s otherwise, and these trials take less). They run
    trials one at a time (stack_trials=1) because they assert the exact trial numbers a resume asks for;
    stacked trials under kills are checked by tests/e2e/test_fault_injection.py."""
    monkeypatch.setenv("BENCHMARK_FLUSH_SECONDS", "0")


def test_sigkill_in_a_trial_and_in_a_seed_rerun_then_restart(tmp_path, data_root):
    """Acceptance check 2: exactly the budget, the interrupted trial failed, no seed row twice."""
    # 120 epochs, caught within the first 60: on a quiet machine a 30-epoch trial of this small table
    # could finish between two looks at the store.
    suite = suite_of("resume-kill", ("keel-glass1",), ("baseline",), trials=2, seeds=2, epochs=120)
    options = RunOptions(suite=suite, storage=f"sqlite:///{tmp_path / 'results.db'}", data_root=str(data_root),
                         device="cpu", pruner="none", stack_trials=1)
    store_url = options.storage

    first = start(options)
    study, trial = wait_for(lambda: running_trial(store_url, "resume-kill"), first, "a trial ran")
    os.kill(first.pid, signal.SIGKILL)
    first.join()

    second = start(options)  # kill it again while it re-runs a seed of the best configuration
    wait_for(lambda: any(r.status == "running" for r in Store(store_url).results("resume-kill", include_running=True)),
             second, "a seed re-run started")
    os.kill(second.pid, signal.SIGKILL)
    second.join()
    assert Store(store_url).pairs("resume-kill")[0].status == "re-running"

    summary = run_suite(options)
    assert summary.statuses == {"complete": 1}
    trials = trials_of(store_url, "resume-kill")[study]
    # The interrupted trial is run again rather than charged to the method: two trials count, and no
    # further trial was even asked for.
    assert sorted(t.number for t in trials) == [0, 1, 2]
    failed = [t for t in trials if t.state == FAIL]
    assert [(t.number, t.user_attrs["failure"]) for t in failed] == [
        (trial.number, f"interrupted: its worker process {first.pid} died and its run stopped")]
    store = Store(store_url)
    rows = store.results("resume-kill", include_running=True)
    assert sorted((r.seed, r.status) for r in rows) == [(0, "ok"), (1, "ok")]
    pair = store.pairs("resume-kill")[0]
    assert (pair.status, pair.spent["trials"], pair.spent["failed"], pair.spent["interrupted"]) == ("complete", 2, 0, 1)
    assert pair.spent["complete"] == 2
    # The interrupted trial's slot was run again with the same configuration (deterministic tuning).
    (replacement,) = [t for t in trials if t.state != FAIL and t.user_attrs["slot"] == trial.user_attrs["slot"]]
    assert replacement.number > trial.number and replacement.params == trial.params
    # The report's tuning history shows exactly the trials tuning charged, in slot order: not the
    # interrupted one, but the trial that was run in its place (numbered beyond the budget).
    histories = read_histories(store, "resume-kill", {("keel-glass1", "baseline"): 2}, problems := [])
    shown = [t["number"] for t in histories[("keel-glass1", "baseline")].trials]
    by_number = {t.number: t for t in trials}
    assert not problems and sorted(shown) == sorted(t.number for t in trials if t.state != FAIL)
    assert [by_number[n].user_attrs["slot"] for n in shown] == [0, 1]
    assert trial.number not in shown and replacement.number in shown


def test_ctrl_c_then_restart_completes_a_smoke_like_run_without_losing_or_repeating_rows(tmp_path, data_root):
    suite = suite_of("resume-sigint", ("keel-glass1", "keel-ecoli1"), ("baseline", "random-oversampling"),
                     trials=2, seeds=2, epochs=120)
    # No pruning: with two trials, one interrupted and one pruned would leave a pair without a result.
    options = RunOptions(suite=suite, storage=f"sqlite:///{tmp_path / 'results.db'}", data_root=str(data_root),
                         device="cpu", pruner="none", stack_trials=1)
    url = options.storage

    child = start(options)

    def second_pair_training():
        done = [p for p in Store(url).pairs("resume-sigint") if p.status == "complete"]
        return done and running_trial(url, "resume-sigint", exclude=f"resume-sigint::{done[0].dataset}::"
                                                                      f"{done[0].method}")

    study, trial = wait_for(second_pair_training, child, "the second pair trained")
    before = {(r.dataset, r.method, r.seed): (r.id, r.created_at) for r in Store(url).results("resume-sigint")}
    os.kill(child.pid, signal.SIGINT)
    child.join(timeout=60)
    assert child.exitcode not in (0, None)  # stopped by the KeyboardInterrupt
    stopped = {t.number: t for t in trials_of(url, "resume-sigint")[study]}[trial.number]
    assert stopped.state == FAIL and stopped.user_attrs["failure"] == "interrupted: Ctrl-C"

    summary = run_suite(options)
    assert summary.pairs == 4 and summary.skipped >= 1 and set(summary.statuses) == {"complete"}
    store = Store(url)
    rows = store.results("resume-sigint", include_running=True)
    keys = [(r.dataset, r.method, r.seed) for r in rows]
    assert len(keys) == len(set(keys)) == 8 and all(r.status == "ok" for r in rows)
    for key, identity in before.items():  # finished rows were neither repeated nor rewritten
        assert next((r.id, r.created_at) for r in rows if (r.dataset, r.method, r.seed) == key) == identity
    for name, trials in trials_of(url, "resume-sigint").items():  # the interrupted trial was run again
        assert sorted(t.number for t in trials) == ([0, 1, 2] if name == study else [0, 1]), name
    pair = next(p for p in store.pairs("resume-sigint") if p.study_name == study)
    assert (pair.status, pair.spent["trials"], pair.spent["complete"], pair.spent["interrupted"]) == ("complete", 2, 2, 1)


def test_a_trial_orphaned_as_optuna_created_it_does_not_hang_the_next_run(tmp_path, data_root):
    """Issue 16.1: a kill between Optuna creating a trial and the trial recording its worker left it
    running for ever, and the next run waited 24 hours without a word."""
    suite = suite_of("orphan", ("keel-glass1",), ("baseline",), trials=1, seeds=1, epochs=3)
    options = RunOptions(suite=suite, storage=f"sqlite:///{tmp_path / 'results.db'}", data_root=str(data_root),
                         device="cpu", pruner="none", heartbeat=1)
    study = optuna.create_study(storage=optuna_storage(options.storage, 1), study_name="orphan::keel-glass1::baseline",
                                direction="maximize")
    study.ask()  # created, then its process was killed: no worker, no heartbeat, no slot
    waits = []
    started = time.monotonic()
    summary = run_suite(options, Progress(on_wait=lambda dataset, method, message: waits.append(message)))
    assert time.monotonic() - started < 60  # seconds (the grace period is 3 heartbeats), not hours
    assert summary.statuses == {"complete": 1}
    trials = trials_of(options.storage, "orphan")["orphan::keel-glass1::baseline"]
    assert [t.state for t in trials] == [FAIL, TrialState.COMPLETE]
    assert trials[0].user_attrs["failure"].startswith("interrupted: it showed no worker and no heartbeat for 3 s")
    assert waits == ["study 'orphan::keel-glass1::baseline' waits for trials of its budget running elsewhere: "
                     "trial 0 (worker not recorded)"]  # said once, with what it waits for
