"""Running suites on local workers: budgets and best parameters per pair, failed trials with reasons,
bad options refused before any work, and a killed worker replaced without losing the budget."""

from __future__ import annotations

import os
import signal
import threading
import time

import optuna
import pytest
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods import method_registry
from benchmark.methods.base import Method, Recipe
from benchmark.protocol import Budget
from benchmark.run import Progress, RunOptions, RunTracker, run_suite
from benchmark.store import Store, optuna_storage
from benchmark.suites import Suite
from benchmark.training.base import TrainingConfig
from benchmark.tuning import trials
from benchmark.tuning.budget import WORKER_DIED, Spent


def tiny_suite(name: str, methods: tuple[str, ...], *, trials: int = 2, seeds: int = 2, epochs: int = 2,
               datasets: tuple[str, ...] = ("keel-glass1",)) -> Suite:
    return Suite(name=name, description="test", datasets=datasets, methods=methods,
                 budget=Budget(trials=trials, seeds=seeds),
                 training={"tabular": TrainingConfig(epochs=epochs, batch_size=32, lr=3e-3)}, tune=("lr",))


def options(suite: Suite, tmp_path, data_root, **kw) -> RunOptions:
    return RunOptions(suite=suite, storage=f"sqlite:///{tmp_path / 'results.db'}", data_root=str(data_root),
                      device="cpu", **kw)


def recording_progress(events: list) -> Progress:
    return Progress(on_start=lambda total: events.append(("start", total)),
                    on_pair=lambda d, m, status: events.append(("pair", m, status)),
                    on_trial=lambda d, m, spent, best: events.append(("trial", m, spent.trials)),
                    on_seed=lambda d, m, seed, status: events.append(("seed", m, seed, status)))


def test_a_run_records_budget_spent_and_best_params_for_every_pair_and_resumes(tmp_path, data_root):
    """Acceptance check 1 on a tiny suite: a deep pair, a classical pair and a not-applicable one."""
    suite = tiny_suite("exec-basic", ("baseline", "balanced-random-forest", "mixup"))
    events: list = []
    summary = run_suite(options(suite, tmp_path, data_root), recording_progress(events))
    assert summary.statuses == {"complete": 2, "not-applicable": 1} and summary.skipped == 0
    store = Store(options(suite, tmp_path, data_root).storage)
    pairs = {p.method: p for p in store.pairs("exec-basic")}
    assert pairs["mixup"].status == "not-applicable" and "image" in pairs["mixup"].reason
    for name in ("baseline", "balanced-random-forest"):
        pair = pairs[name]
        used = Spent.from_record(pair.spent)
        assert pair.status == "complete" and used.trials == 2  # every method gets the same trials
        assert used.complete + used.pruned + used.failed == 2
        assert pair.budget == {"trials": 2, "seeds": 2, "timeout": None, "device_seconds": None,
                               "objective": "minority_f1", "pruner": "hyperband", "tune": ["lr"]}
        assert pair.best_value is not None
    assert pairs["balanced-random-forest"].engine == "classical" and pairs["baseline"].engine == "deep"
    assert set(pairs["baseline"].best_params) == {"train.lr"}  # the suite's shared parameter (deep engine only)
    assert set(pairs["balanced-random-forest"].best_params) == {"n_estimators", "max_features", "min_samples_leaf"}
    rows = store.results("exec-basic")
    assert sorted((r.method, r.seed) for r in rows) == [("balanced-random-forest", 0), ("balanced-random-forest", 1),
                                                        ("baseline", 0), ("baseline", 1)]
    assert all(r.params == pairs[r.method].best_params for r in rows)
    assert ("start", 3) in events and [e for e in events if e[0] == "pair"] == [
        ("pair", "mixup", "not-applicable"), ("pair", "baseline", "complete"),
        ("pair", "balanced-random-forest", "complete")]
    # each stack of trials (the CPU default trains both MLP trials as one stacked model), then the final count
    assert [e[2] for e in events if e[:2] == ("trial", "baseline")] == [2, 2]
    ids = {r.id for r in rows}

    again = run_suite(options(suite, tmp_path, data_root))  # resuming a finished run repeats nothing
    assert again.skipped == 3 and again.statuses == {}
    assert {r.id for r in store.results("exec-basic")} == ids
    with pytest.raises(BenchmarkError, match="is stored with budget .*'trials': 2.*this run asks for .*'trials': 3"):
        run_suite(options(suite, tmp_path, data_root, trials=3))
    assert {r.id for r in store.results("exec-basic")} == ids


@pytest.mark.parametrize("bad, message", [
    ({"trials": 0}, "--trials 0 is invalid"),
    ({"seeds": 0}, "--seeds 0 is invalid"),
    ({"objective": "auc"}, "objective 'auc' is unknown"),
    ({"pruner": "asha"}, "pruner 'asha' is unknown"),
    ({"workers": 0}, "--workers 0 is invalid"),
    ({"executor": "dask"}, "executor 'dask' is unknown"),
    ({"ray_address": "ray://head:10001"}, "add --executor ray"),
    ({"device_seconds": -1.0}, "--device-seconds -1.0 is invalid"),
    ({"gpu_fraction": 1.5}, "--gpu-fraction 1.5 is invalid"),
    ({"methods": ["smoteee"]}, "unknown method 'smoteee'"),
])
def test_bad_options_are_refused_before_anything_is_stored(tmp_path, bad, message):
    suite = tiny_suite("exec-bad", ("baseline",))
    with pytest.raises(BenchmarkError, match=message):
        run_suite(RunOptions(suite=suite, storage=f"sqlite:///{tmp_path / 'results.db'}", device="cpu", **bad))
    assert not (tmp_path / "results.db").exists()


def crashing(name: str, crash) -> Method:
    def build(params, ctx):
        crash(ctx.seed)
        return Recipe()

    return Method(name=name, build=build, family="test", modalities=("tabular",), summary="test", paper="",
                  engines=("deep",))


def crash_odd_trials(seed: int) -> None:
    if seed >= 10_000 and seed % 2:  # tuning trials have seeds 10000 + number; re-runs 0..K-1 pass
        raise RuntimeError(f"simulated crash at seed {seed}")


def out_of_memory(seed: int) -> None:
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


def test_crashing_trials_fail_with_their_reason_and_the_run_goes_on(tmp_path, data_root, monkeypatch):
    for method in (crashing("crash-odd-trials", crash_odd_trials), crashing("always-out-of-memory", out_of_memory)):
        monkeypatch.setitem(method_registry._entries, method.name, method)
    suite = tiny_suite("exec-crash", ("always-out-of-memory", "crash-odd-trials", "baseline"), seeds=1)
    summary = run_suite(options(suite, tmp_path, data_root))
    assert summary.statuses == {"failed": 1, "complete": 2}
    pairs = {p.method: p for p in Store(options(suite, tmp_path, data_root).storage).pairs("exec-crash")}
    oom = pairs["always-out-of-memory"]
    assert oom.status == "failed" and Spent.from_record(oom.spent).failed == 2
    assert oom.reason == "no tuning trial completed: OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB"
    odd = pairs["crash-odd-trials"]
    used = Spent.from_record(odd.spent)
    assert odd.status == "complete" and (used.trials, used.failed) == (2, 1)
    assert used.failures == ("RuntimeError: simulated crash at seed 10001",)


def kill_first_foreign_trial(url: str, study_name: str, killed: list, stop: threading.Event) -> None:
    """Watch the study; SIGKILL the first worker other than this process caught in the middle of a trial."""
    storage = optuna_storage(url, heartbeat=10)
    while not stop.is_set() and not killed:
        try:
            trials = optuna.load_study(study_name=study_name, storage=storage).get_trials(deepcopy=False)
        except KeyError:  # the study does not exist yet
            trials = []
        for t in trials:
            pid = int(t.user_attrs.get("worker", "x:0").rpartition(":")[2])
            # its configuration drawn, so it builds or trains: the kill lands in the trial (a training trial's
            # reports reach the store in batches, benchmark.tuning.writes, so they cannot tell how far it is)
            if t.state == optuna.trial.TrialState.RUNNING and pid != os.getpid() and "params" in t.user_attrs:
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, t.number))
                return
        time.sleep(0.1)


@pytest.mark.slow  # starts processes (the CLI or workers): seconds, kept out of -m 'not slow'
def test_a_killed_worker_is_replaced_and_the_study_spends_exactly_its_budget(tmp_path, data_root, monkeypatch):
    suite = tiny_suite("exec-kill", ("baseline",), trials=6, seeds=2, epochs=20)
    # one trial per worker at a time (stacked trials would all die with their worker): one death, one trial
    opts = options(suite, tmp_path, data_root, workers=2, stack_trials=1)
    killed: list = []
    stop = threading.Event()
    real_fit = trials.fit_members

    def patient_fit(*args, **kwargs):
        """This process's worker waits (in its first trial) until the extra worker has started one, been
        killed, and the pool's monitor has recorded why, however slowly the extra process starts: were
        this worker to look at the study first, it would fail the trial without knowing the signal."""
        deadline = time.monotonic() + 120
        while not (killed and killed_trial_recorded()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return real_fit(*args, **kwargs)

    def killed_trial_recorded() -> bool:
        study = optuna.load_study(study_name="exec-kill::keel-glass1::baseline",
                                  storage=optuna_storage(opts.storage, 10))
        return study.trials[killed[0][1]].state != optuna.trial.TrialState.RUNNING

    monkeypatch.setattr(trials, "fit_members", patient_fit)
    watcher = threading.Thread(target=kill_first_foreign_trial,
                               args=(opts.storage, "exec-kill::keel-glass1::baseline", killed, stop))
    watcher.start()
    try:
        summary = run_suite(opts)
    finally:
        stop.set()
        watcher.join()
    assert len(killed) == 1, "the extra worker never ran a trial"
    pid, number = killed[0]
    assert summary.statuses == {"complete": 1}
    assert summary.worker_deaths == [f"worker {pid} was killed by SIGKILL: its trial was recorded failed; "
                                     "a new worker took its place"]
    study = optuna.load_study(study_name="exec-kill::keel-glass1::baseline", storage=optuna_storage(opts.storage, 10))
    assert all(t.state != optuna.trial.TrialState.RUNNING for t in study.trials)
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    refused = [t for t in failed if t.user_attrs["failure"] == "over budget"]  # the other worker came too late
    # The worker died while the run went on: its own death (what an out-of-memory kill looks like), not
    # the run's interruption; the slot's first deaths are forgiven, so its trial is run again, not charged.
    assert [(t.number, t.user_attrs["failure"]) for t in failed if t not in refused] == [
        (number, f"{WORKER_DIED}: its worker process {pid} was killed by SIGKILL")]
    # Six trials finish (complete or pruned), whoever ran them.
    finished = [t for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    assert len(finished) == 6 and max(t.number for t in finished) >= 6
    store = Store(opts.storage)
    assert sorted(r.seed for r in store.results("exec-kill")) == [0, 1]
    used = Spent.from_record(store.pairs("exec-kill")[0].spent)
    assert (used.trials, used.complete + used.pruned, used.failed, used.interrupted, used.worker_deaths) == (6, 6, 0, 0, 1)


def test_run_tracker_estimates_time_left_from_the_work_done_in_this_run():
    clock = [0.0]
    tracker = RunTracker(Budget(trials=3, seeds=1), clock=lambda: clock[0])
    tracker.start(3)
    tracker.pair("d", "done-before", "skipped (complete)")  # 4 units done before the run: not in the rate
    assert tracker.eta_seconds() is None
    clock[0] = 10.0
    tracker.trial("d", "m", Spent(trials=2))  # 2 units in 10 s; 12 - 4 - 2 = 6 units left
    assert tracker.eta_seconds() == pytest.approx(30.0)
    tracker.trial("d", "m", Spent(trials=3, running=1))  # a trial running is no unit done yet
    assert tracker.eta_seconds() == pytest.approx(30.0)
    tracker.trial("d", "m", Spent(trials=3))
    tracker.seed("d", "m")
    tracker.pair("d", "m", "complete")
    clock[0] = 20.0
    assert tracker.eta_seconds() == pytest.approx(20.0)  # 4 units in 20 s, 4 left


@pytest.fixture
def method_needing_a_model(monkeypatch):
    """A registered method whose model is missing until the test says it is installed."""
    from benchmark.errors import ResourceUnavailableError

    state = {"installed": False}

    def applies_to(split):
        if not state["installed"]:
            raise ResourceUnavailableError("model unavailable: tiny-test-model", "install tiny-test-model")
        return None

    method = Method(name="needs-a-model", build=lambda p, c: Recipe(), family="test", modalities=("tabular",),
                    summary="Needs a model that may be missing.", paper="", applies_to=applies_to)
    monkeypatch.setitem(method_registry._entries, method.name, method)
    return state


def test_a_missing_resource_is_not_final_and_a_corrupt_dataset_fails_only_its_pairs(
        tmp_path, data_root, method_needing_a_model, monkeypatch):
    from benchmark.datasets import dataset_registry
    from benchmark.datasets.base import Dataset

    def corrupt(request):
        raise BenchmarkError(f"{request.data_root}/bad.dat, line 3: value 'x' is not a number", "replace the file")

    bad = Dataset(name="corrupt-test-data", builder=corrupt, modality="tabular", num_classes=2, source="test",
                  description="always corrupt")
    monkeypatch.setitem(dataset_registry._entries, bad.name, bad)
    suite = tiny_suite("exec-resources", ("baseline", "needs-a-model"), trials=1, seeds=1,
                       datasets=("corrupt-test-data", "keel-glass1"))
    summary = run_suite(options(suite, tmp_path, data_root))
    assert summary.statuses == {"data-error": 2, "complete": 1, "resource-unavailable": 1}
    store = Store(options(suite, tmp_path, data_root).storage)
    pairs = {(p.dataset, p.method): p for p in store.pairs("exec-resources")}
    assert "line 3" in pairs[("corrupt-test-data", "baseline")].reason
    assert pairs[("keel-glass1", "needs-a-model")].status == "resource-unavailable"
    assert "tiny-test-model" in pairs[("keel-glass1", "needs-a-model")].reason

    method_needing_a_model["installed"] = True  # the next run picks the pair up again
    again = run_suite(options(suite, tmp_path, data_root))  # ... and retries the data error (still corrupt)
    assert again.statuses == {"complete": 1, "data-error": 2} and again.skipped == 1
    assert store.get_pair("exec-resources", "keel-glass1", "needs-a-model").status == "complete"


def test_rows_record_the_commit_the_run_started_with(tmp_path, data_root, monkeypatch):
    """A long run outlives commits in its checkout: its rows name the code it started with, read once by
    the driver (Ray nodes may have no checkout at all), not the checkout's HEAD when a row is written."""
    import benchmark.run.plan as plan
    import benchmark.store.provenance as provenance

    monkeypatch.setattr(plan, "git_commit", lambda: "commit-at-start")
    monkeypatch.setattr(provenance, "git_commit", lambda: "commit-when-the-row-is-written")
    suite = tiny_suite("exec-commit", ("baseline",), trials=1, seeds=1)
    run_suite(options(suite, tmp_path, data_root))
    rows = Store(options(suite, tmp_path, data_root).storage).results("exec-commit")
    assert [r.provenance["git_commit"] for r in rows] == ["commit-at-start"]
