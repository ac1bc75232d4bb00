"""Deterministic tuning: trial slot k gets the same configuration, seed and score with one worker, two
workers finishing in another order, and a run interrupted (Ctrl-C, a dead worker, an orphan) and
resumed; the budget's slot rules; orphaned trials are failed after the grace period and waiting says
what it waits for and gives up with a clear message."""

from __future__ import annotations

import math
import random
import threading
import time

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from benchmark.errors import BenchmarkError
from benchmark.protocol import Budget
from benchmark.store.liveness import worker_id
from benchmark.testing import make_tabular_split
from benchmark.training.base import TrainingConfig
from benchmark.tuning import study as study_module
from benchmark.tuning import trials as trials_module
from benchmark.tuning.budget import (
    INTERRUPTED,
    OVER_BUDGET,
    RELEASED,
    RETRIES_PER_SLOT,
    SLOT,
    WORKER_DIED,
    charged_trials,
    open_slot,
    spent,
)
from benchmark.tuning.study import (
    best_trial,
    fail_interrupted_trials,
    open_study,
    trial_params,
    wait_for_trials,
)
from benchmark.tuning.trials import run_trials
from tests.tuning.test_tuning import job_for, method_with

CONFIG = TrainingConfig(epochs=4, batch_size=32, lr=3e-3)
TRIALS = 14  # beyond TPE's 10 startup trials, so later slots really condition on their history


class FakeModel:
    """Validation probabilities that depend only on the parameters and the seed (a fake objective)."""

    timings: dict[str, float] = {}

    def __init__(self, params: dict, seed: int, y: np.ndarray, epochs: int):
        lr, depth = params["train.lr"], params["depth"]
        quality = math.exp(-(math.log10(lr) + 2.5) ** 2) * (0.5 + depth / 8) * epochs / CONFIG.epochs
        rng = np.random.default_rng(seed)
        margin = 0.5 * np.clip(quality - rng.uniform(0, 1, size=len(y)), -1, 1)  # a row is right where > 0
        self.proba = np.empty((len(y), 2))
        self.proba[np.arange(len(y)), y] = 0.5 + margin
        self.proba[np.arange(len(y)), 1 - y] = 0.5 - margin

    def predict_proba(self, X):
        return self.proba


def space(trial, ctx):
    return {"depth": trial.suggest_int("depth", 1, 4)}


@pytest.fixture
def fake_fit(monkeypatch):
    """Replace training by the fake objective; ``hooks[slot]`` runs before a slot's fit (to sleep or
    to interrupt it), and every fit is recorded as (slot, seed)."""
    hooks, fits = {}, []

    def fit_members(job, members, on_epoch, stacked):
        results = []
        for m, member in enumerate(members):
            slot = member.trial.user_attrs[SLOT]
            fits.append((slot, member.seed))
            hooks.get(slot, lambda: None)()
            params = member.trial.user_attrs["params"]
            try:
                for epoch in range(member.config.epochs):  # per-epoch reports: the pruner acts on them
                    on_epoch(m, epoch, FakeModel(params, member.seed, job.split.val.y, epoch + 1).proba)
                results.append(FakeModel(params, member.seed, job.split.val.y, member.config.epochs))
            except optuna.TrialPruned as exc:
                results.append(exc)
        return results

    monkeypatch.setattr(trials_module, "fit_members", fit_members)
    return hooks, fits


def fake_job(**kw):
    return job_for(make_tabular_split(), method_with("fake", space), trials=TRIALS, config=CONFIG, tune=("lr",),
                   objective="balanced_accuracy", pruner="median", **kw)


def by_slot(study: optuna.Study, budget: int) -> dict[int, tuple]:
    return {t.user_attrs[SLOT]: (trial_params(t), t.value, t.state.name)
            for t in charged_trials(study.get_trials(deepcopy=False), budget)}


def test_trial_k_is_the_same_with_one_worker_two_workers_and_after_interruptions(fake_fit):
    hooks, fits = fake_fit
    job = fake_job(width=2)
    one = run_trials(job, optuna.storages.InMemoryStorage())
    reference = by_slot(one, TRIALS)
    assert sorted(reference) == list(range(TRIALS)) and len(fits) == TRIALS
    assert len({p["train.lr"] for p, _, _ in reference.values()}) == TRIALS
    assert any(state == "PRUNED" for _, _, state in reference.values())  # the pruner is part of the check

    # Two workers on one study, finishing in a shuffled order (random sleeps before each fit).
    rng = random.Random(1)
    for slot in range(TRIALS):
        hooks[slot] = lambda d=rng.uniform(0, 0.05): time.sleep(d)
    storage = optuna.storages.InMemoryStorage()
    workers = [threading.Thread(target=run_trials, args=(job, storage)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    two = optuna.load_study(study_name=job.study_name, storage=storage)
    assert by_slot(two, TRIALS) == reference
    finished = [t for t in two.get_trials(deepcopy=False) if t.state != TrialState.FAIL]
    assert len(finished) == TRIALS  # nothing ran twice, nothing was lost

    # Interrupted: Ctrl-C in slot 3; a worker then dies holding slot 3 again; an orphan (a trial
    # created by a process killed before it recorded anything) lies in the study.
    hooks.clear()
    storage = optuna.storages.InMemoryStorage()

    def ctrl_c():
        raise KeyboardInterrupt

    hooks[3] = ctrl_c
    with pytest.raises(KeyboardInterrupt):
        run_trials(job, storage)
    del hooks[3]
    study = open_study(job, storage)
    dead = study.ask()
    dead.set_user_attr("worker", worker_id(pid=2**22 + 7))  # beyond pid_max: a process that is gone
    dead.set_user_attr(SLOT, open_slot(study.get_trials(deepcopy=False)[:-1], TRIALS))
    study.ask()  # the orphan: no worker, no slot
    study_module._first_seen.clear()
    hooks[8] = lambda: [t.number for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    original_grace = study_module.DEFAULT_GRACE
    study_module.DEFAULT_GRACE = 0.2  # the grace an in-memory storage gets (no heartbeats of its own)
    try:
        resumed = run_trials(job, storage)
    finally:
        study_module.DEFAULT_GRACE = original_grace
    assert by_slot(resumed, TRIALS) == reference
    failures = sorted(t.user_attrs["failure"].split(":")[0] + ":" + str(t.user_attrs.get(SLOT))
                      for t in resumed.get_trials(deepcopy=False) if t.state == TrialState.FAIL)
    assert failures == [f"{INTERRUPTED}:3", f"{INTERRUPTED}:3", f"{INTERRUPTED}:None"]  # slot 3 freed twice
    used = spent(resumed, job.budget)
    assert (used.trials, used.interrupted, used.running) == (TRIALS, 3, 0)
    # The re-run slots trained with the slot's seed, as they first did.
    seeds = {}
    for slot, seed in fits:
        assert seeds.setdefault(slot, seed) == seed
    assert trial_params(best_trial(resumed, job.budget)) == trial_params(best_trial(one, job.budget))


def test_the_sampler_conditions_only_on_slots_0_to_k_minus_w(fake_fit):
    """A finished slot k-W+1 changes nothing for slot k; a different history of slot k-W does."""
    job = fake_job(width=3)
    study = run_trials(job, optuna.storages.InMemoryStorage())
    reference = by_slot(study, TRIALS)
    # Width 1 conditions on every earlier slot: from the first non-startup slot, other draws.
    narrow = by_slot(run_trials(fake_job(width=1), optuna.storages.InMemoryStorage()), TRIALS)
    assert [narrow[k][0] for k in range(10)] == [reference[k][0] for k in range(10)]  # startup: random by slot
    assert [narrow[k][0] for k in range(10, TRIALS)] != [reference[k][0] for k in range(10, TRIALS)]
    assert open_study(fake_job(width=3), optuna.storages.InMemoryStorage()).user_attrs["protocol"]["tuning_width"] == 3


def test_a_waiting_slot_is_released_when_a_slot_it_builds_on_is_interrupted(fake_fit):
    """Slot 3 (width 2) waits for slot 1, running on another worker; that worker is interrupted, so
    slot 3's trial is released, slot 1 runs again first, then slot 3, each with its configuration."""
    hooks, _ = fake_fit
    job = fake_job(width=2)
    reference = by_slot(run_trials(job, optuna.storages.InMemoryStorage()), TRIALS)
    storage = optuna.storages.InMemoryStorage()
    study = open_study(job, storage)
    interrupted_once = threading.Event()

    def interrupt_once_slot_3_waits():
        if interrupted_once.is_set():
            return
        deadline = time.monotonic() + 30
        while not any(t.user_attrs.get(SLOT) == 3 for t in study.get_trials(deepcopy=False)):
            assert time.monotonic() < deadline, "slot 3 was never taken"
            time.sleep(0.01)
        interrupted_once.set()
        raise KeyboardInterrupt

    hooks[1] = interrupt_once_slot_3_waits
    outcomes = []

    def worker():
        try:
            run_trials(job, storage)
            outcomes.append("done")
        except KeyboardInterrupt:
            outcomes.append("interrupted")

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes) == ["done", "interrupted"]
    assert by_slot(study, TRIALS) == reference
    failed = [t.user_attrs["failure"] for t in study.get_trials(deepcopy=False) if t.state == TrialState.FAIL]
    assert sorted(f.split(":")[0] for f in failed) == [INTERRUPTED, RELEASED]
    assert "slot 1 is re-run before slot 3" in next(f for f in failed if f.startswith(RELEASED))


def add_trial(study, slot=None, state=TrialState.COMPLETE, failure=None):
    trial = study.ask()
    if slot is not None:
        trial.set_user_attr(SLOT, slot)
    if failure is not None:
        trial.set_user_attr("failure", failure)
    if state != TrialState.RUNNING:
        study.tell(trial, 0.5 if state == TrialState.COMPLETE else None, state=state)
    return trial.number


def test_slot_rules_interrupted_slots_reopen_refused_hold_nothing_and_retries_are_bounded():
    study = optuna.create_study(direction="maximize")
    add_trial(study, 0)                                                # 0: slot 0
    add_trial(study, 1, TrialState.FAIL, f"{INTERRUPTED}: Ctrl-C")     # 1: slot 1, interrupted: frees
    add_trial(study, 1, TrialState.FAIL, "RuntimeError: boom")         # 2: slot 1 again, charged failure
    add_trial(study, None, TrialState.FAIL, OVER_BUDGET)               # 3: refused, no slot
    add_trial(study, None, TrialState.FAIL, f"{RELEASED}: slot 0")     # 4: released, no slot
    trials = study.get_trials(deepcopy=False)
    assert [t.number for t in charged_trials(trials, 2)] == [0, 2] and open_slot(trials, 2) is None
    assert open_slot(trials, 3) == 2

    study = optuna.create_study(direction="maximize")
    for _ in range(RETRIES_PER_SLOT + 1):  # a configuration that kills its worker every time
        add_trial(study, 0, TrialState.FAIL, f"{WORKER_DIED}: its worker process 1 was killed by SIGKILL")
    trials = study.get_trials(deepcopy=False)
    assert [t.number for t in charged_trials(trials, 1)] == [RETRIES_PER_SLOT]  # the last one counts
    used = spent(study, Budget(trials=1, seeds=1))
    assert (used.trials, used.failed, used.interrupted, used.worker_deaths, used.stopped_by) == (
        1, 1, 0, RETRIES_PER_SLOT + 1, "trials")

    # Slots in order of slot, not of trial number: the re-run slot 0 (trial 2) comes first.
    study = optuna.create_study(direction="maximize")
    add_trial(study, 0, TrialState.FAIL, f"{INTERRUPTED}: Ctrl-C")
    add_trial(study, 1)
    add_trial(study, 0)
    assert [t.number for t in charged_trials(study.get_trials(deepcopy=False), 2)] == [2, 1]


def test_an_orphaned_trial_is_failed_after_the_grace_period_and_waiting_says_what_it_waits_for():
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="s::d::m", direction="maximize")
    orphan = add_trial(study, state=TrialState.RUNNING)  # created, then its process was killed
    alive = add_trial(study, 0, TrialState.RUNNING)
    storage.set_trial_user_attr(study.trials[alive]._trial_id, "worker", "another-host:12")  # alive elsewhere
    study_module._first_seen.clear()
    assert fail_interrupted_trials(study, grace=0.3) == []  # seen for the first time: not yet
    time.sleep(0.35)
    assert fail_interrupted_trials(study, grace=0.3) == [orphan]
    failure = study.trials[orphan].user_attrs["failure"]
    assert failure.startswith(INTERRUPTED) and "no worker and no heartbeat for 0 s" in failure

    told = []
    started = time.monotonic()
    with pytest.raises(BenchmarkError, match=r"study 's::d::m' waits for trials of its budget running elsewhere: "
                                             r"trial 1 \(slot 0, worker another-host:12\), still running after 1 s"):
        wait_for_trials(study, Budget(trials=2, seeds=1), on_wait=told.append, poll=0.1, limit=1, grace=0.3)
    assert time.monotonic() - started < 3
    assert told == ["study 's::d::m' waits for trials of its budget running elsewhere: "
                    "trial 1 (slot 0, worker another-host:12)"]  # once, not once per poll


def test_time_a_trial_spends_waiting_for_its_slot_is_not_charged_as_compute():
    import datetime as dt

    from benchmark.tuning.budget import STARTED

    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    trial.set_user_attr(SLOT, 0)
    time.sleep(0.3)  # waiting for earlier slots
    trial.set_user_attr(STARTED, dt.datetime.now().isoformat())
    study.tell(trial, 0.5)
    used = spent(study, Budget(trials=1, seeds=1))
    assert used.seconds < 0.2 and used.wall_seconds < 0.2
