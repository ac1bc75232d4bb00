"""The trial loop's per-epoch work (issue 26) is cheap without changing a decision: short studies on a
SQLite store (the run's storage) give the same stored trials as the loop before the change (params,
values, states, intermediate values, the pruner's rungs: ``short_studies_before.json``, recorded from
the loop that read the whole study and computed every metric each epoch), the slot pruner decides as
a fresh read of the study would, and an epoch reads nothing from the store.

The training is a fake objective of the parameters, the seed and the epoch (numpy only), so the
recorded figures do not depend on the machine's float kernels.

Re-record the fixture only for an intended change of decisions:
``python -m tests.tuning.test_trial_overhead > tests/tuning/short_studies_before.json``."""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from benchmark.store import studies as studies_module
from benchmark.store.studies import optuna_storage
from benchmark.testing import make_tabular_split
from benchmark.training.base import TrainingConfig
from benchmark.tuning import trials as trials_module
from benchmark.tuning import writes
from benchmark.tuning.budget import SLOT
from benchmark.tuning.study import trial_params
from benchmark.tuning.trials import run_trials
from tests.tuning.test_tuning import job_for, method_with

FIXTURE = Path(__file__).with_name("short_studies_before.json")
EPOCHS = 9  # Hyperband's rungs at 1, 3 and 9 epochs
TRIALS = 13  # beyond TPE's 10 startup trials
CASES = {  # name -> (pruner, stacked trials, tuning width, objective)
    "hyperband": ("hyperband", 1, 2, "balanced_accuracy"),
    "hyperband-stacked": ("hyperband", 2, 4, "minority_f1"),
    "successive-halving": ("successive-halving", 1, 2, "minority_pr_auc"),
    "median": ("median", 1, 3, "balanced_accuracy"),
}


def fake_proba(params: dict[str, Any], seed: int, y: np.ndarray, epochs: int) -> np.ndarray:
    """Validation probabilities of a fake model: better with a learning rate near 3e-3, a larger
    ``width`` and more epochs, noisy by seed (so trials differ and the pruner has work)."""
    lr, width = params["train.lr"], params["width"]
    quality = math.exp(-(math.log10(lr) + 2.5) ** 2) * (0.4 + width / 8) * (epochs / EPOCHS) ** 0.5
    rng = np.random.default_rng(seed * 100 + epochs)
    margin = 0.5 * np.clip(quality - rng.uniform(0, 1, size=len(y)), -1, 1)
    proba = np.empty((len(y), 2))
    proba[np.arange(len(y)), y] = 0.5 + margin
    proba[np.arange(len(y)), 1 - y] = 0.5 - margin
    return proba


class FakeModel:
    def __init__(self, proba: np.ndarray):
        self.proba, self.timings = proba, {}

    def predict_proba(self, X):
        return self.proba


def fake_fit_members(job, members, on_epoch, stacked):
    """Every member trained epoch by epoch, as the stacked engine does (all members' epoch e before e+1)."""
    results: list[Any] = [None] * len(members)
    for epoch in range(EPOCHS):
        for m, member in enumerate(members):
            if results[m] is not None:
                continue
            try:
                on_epoch(m, epoch, fake_proba(member.trial.user_attrs["params"], member.seed, job.split.val.y,
                                              epoch + 1))
            except optuna.TrialPruned as exc:
                results[m] = exc
    return [r if r is not None else FakeModel(fake_proba(m.trial.user_attrs["params"], m.seed, job.split.val.y,
                                                         EPOCHS))
            for r, m in zip(results, members, strict=True)]


def space(trial, ctx):
    return {"width": trial.suggest_int("width", 1, 4)}


def short_study(case: str, folder: Path) -> dict[str, Any]:
    """Run the case's study on a fresh SQLite store in ``folder``; its trials by slot, as stored."""
    pruner, stack, width, objective = CASES[case]
    job = job_for(make_tabular_split(), method_with("fake", space), trials=TRIALS,
                  config=TrainingConfig(epochs=EPOCHS, batch_size=32, lr=3e-3), tune=("lr",),
                  objective=objective, pruner=pruner, stack=stack, width=width)
    storage = optuna_storage(f"sqlite:///{folder / (case + '.db')}", heartbeat=10)
    study = run_trials(job, storage)
    record = {}
    for t in study.get_trials(deepcopy=False):
        assert t.state != TrialState.RUNNING
        record[str(t.user_attrs.get(SLOT))] = {
            "params": trial_params(t), "value": t.value, "state": t.state.name,
            "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
            "rungs": {k: v for k, v in sorted(t.system_attrs.items()) if k.startswith("completed_rung")},
            "epochs": t.user_attrs.get("epochs"), "pruned": t.user_attrs.get("pruned"),
        }
    return record


@pytest.fixture
def fake_training(monkeypatch):
    monkeypatch.setattr(trials_module, "fit_members", fake_fit_members)


@pytest.mark.parametrize("flush_seconds", [writes.FLUSH_SECONDS, 0.0])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_short_study_stores_the_same_trials_as_the_loop_before(case, flush_seconds, fake_training, tmp_path,
                                                                  monkeypatch):
    """Batched (the default: nothing falls due in these short trials) or flushed after every write."""
    monkeypatch.setattr(writes, "FLUSH_SECONDS", flush_seconds)
    before = json.loads(FIXTURE.read_text())[case]
    after = json.loads(json.dumps(short_study(case, tmp_path)))  # as the fixture was written
    assert after == before
    if "hyperband" in case or "halving" in case:
        assert any(t["state"] == "PRUNED" for t in after.values())  # the pruner is part of the check


def test_after_its_first_epoch_a_trials_epoch_neither_reads_nor_writes_the_store(monkeypatch, tmp_path):
    """The slot pruner's history and the trial's own system attributes are read once, at its first
    epoch; its reports, rungs and closing attributes are written in one batch (no flush falls due here)."""
    from sqlalchemy import event

    statements: list[str] = []

    def spied_storage(url: str, heartbeat: int):
        storage = studies_module.optuna_storage(url, heartbeat)
        event.listen(storage.engine, "before_cursor_execute", lambda conn, cur, sql, *a: statements.append(sql))
        return storage

    per_epoch: dict[int, list[list[str]]] = {}

    def counted_fit(job, members, on_epoch, stacked):
        def on(m: int, epoch: int, proba):
            first = len(statements)
            try:
                on_epoch(m, epoch, proba)
            finally:
                per_epoch.setdefault(epoch, []).append(statements[first:])
        return fake_fit_members(job, members, on, stacked)

    monkeypatch.setattr(sys.modules[__name__], "optuna_storage", spied_storage)
    monkeypatch.setattr(trials_module, "fit_members", counted_fit)
    monkeypatch.setattr(writes, "FLUSH_SECONDS", 1e9)
    stored = short_study("hyperband", tmp_path)
    assert sum(len(calls) for epoch, calls in per_epoch.items() if epoch > 0) > 20
    assert [sql for epoch, calls in per_epoch.items() if epoch > 0 for call in calls for sql in call] == []
    first = [sql for call in per_epoch[0] for sql in call]
    assert sum("FROM trial_params" in sql for sql in first) <= 2 * TRIALS  # its slot's history, its own attributes
    assert not any("INSERT" in sql for sql in first)
    assert sum(len(t["intermediate"]) for t in stored.values()) > 40  # and all of it was stored in the end


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed")
def test_a_held_trials_writes_are_read_back_here_and_stored_as_it_ends(tmp_path):
    storage = writes.batched(optuna_storage(f"sqlite:///{tmp_path / 'held.db'}", heartbeat=10))
    study = optuna.create_study(storage=storage, study_name="held", direction="maximize")
    trial = study.ask()
    other = optuna.load_study(study_name="held", storage=f"sqlite:///{tmp_path / 'held.db'}")
    writes.hold(study, trial._trial_id)
    trial.report(0.25, 1)
    trial.set_user_attr("epochs", 1)
    storage.set_trial_system_attr(trial._trial_id, "completed_rung_0", 0.25)
    mine, theirs = study.get_trials()[0], other.get_trials()[0]
    assert (mine.intermediate_values, mine.user_attrs, mine.system_attrs["completed_rung_0"]) == (
        {1: 0.25}, {"epochs": 1}, 0.25)
    assert (theirs.intermediate_values, theirs.user_attrs) == ({}, {})  # not yet in the store
    study.tell(trial, 0.5)
    done = other.get_trials()[0]
    assert (done.state, done.value, done.intermediate_values, done.user_attrs) == (
        TrialState.COMPLETE, 0.5, {1: 0.25}, {"epochs": 1})
    assert done.system_attrs["completed_rung_0"] == 0.25


def test_a_trial_reads_the_whole_study_once_as_it_starts_and_the_loop_once_a_round(fake_training, monkeypatch,
                                                                                   tmp_path):
    """Its slot (a read after it was created); its history, sampler and pruner use that read, and what a
    round needs (the liveness check, the budget spent, the progress line) one read between them. The loop
    before read the whole study 6 to 7 times a trial (issue 26: 8 ms a read on SQLite)."""
    from optuna.storages._cached_storage import _CachedStorage

    refreshes: list[int] = []  # full reads of the study (Optuna's cache re-reads its unfinished trials whole)
    original = _CachedStorage._read_trials_from_remote_storage

    def counted(self, study_id):
        refreshes.append(study_id)
        return original(self, study_id)

    monkeypatch.setattr(_CachedStorage, "_read_trials_from_remote_storage", counted)
    told: list[int] = []
    for case, rounds in (("hyperband", TRIALS + 1), ("hyperband-stacked", math.ceil(TRIALS / 2) + 1)):
        refreshes.clear()
        pruner, stack, width, objective = CASES[case]
        job = job_for(make_tabular_split(), method_with("fake", space), trials=TRIALS,
                      config=TrainingConfig(epochs=EPOCHS, batch_size=32, lr=3e-3), tune=("lr",),
                      objective=objective, pruner=pruner, stack=stack, width=width)
        storage = optuna_storage(f"sqlite:///{tmp_path / (case + '.db')}", heartbeat=10)
        study = run_trials(job, storage, on_trial=lambda study, trials: told.append(len(trials)))
        assert len(refreshes) == TRIALS + rounds, case  # one a trial (its slot), one a round
        assert sum(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)) >= 2
    assert told[-1] == TRIALS  # the progress line saw the last round, from the loop's own read


def test_the_liveness_check_reads_again_only_after_failing_a_trial(monkeypatch):
    """``current_trials``: one read of the study; a second after it failed a gone worker's trial (its own
    write), whose failure the trials returned then show."""
    from benchmark.store.liveness import worker_id
    from benchmark.tuning.budget import RUN
    from benchmark.tuning.study import current_trials

    storage = writes.batched(optuna.storages.InMemoryStorage())
    study = optuna.create_study(storage=storage, direction="maximize")
    reads: list[object] = []
    original = storage.get_all_trials
    monkeypatch.setattr(storage, "get_all_trials", lambda *a, **k: reads.append(k.get("states")) or original(*a, **k))
    alive = study.ask()
    alive.set_user_attr("worker", worker_id())
    reads.clear()
    assert [t.state for t in current_trials(study, grace=60)] == [TrialState.RUNNING]
    assert reads == [None]
    gone = 2**22 + 7  # beyond pid_max: a process that is gone
    dead = study.ask()
    dead.set_user_attr(RUN, worker_id(gone))
    dead.set_user_attr("worker", worker_id(gone))
    reads.clear()
    assert [t.state for t in current_trials(study, grace=60)] == [TrialState.RUNNING, TrialState.FAIL]
    assert reads == [None, None]


def test_a_slots_history_is_read_until_final_then_kept(monkeypatch):
    from benchmark.tuning.history import slot_history

    study = optuna.create_study(storage=writes.batched(optuna.storages.InMemoryStorage()), direction="maximize")
    reads: list[int] = []
    original = study._storage.get_all_trials
    monkeypatch.setattr(study._storage, "get_all_trials", lambda *a, **k: reads.append(1) or original(*a, **k))
    first = study.ask()
    first.set_user_attr(SLOT, 0)
    reads.clear()
    assert slot_history(study, 1, 2, 4) == ([], [], [])  # below the width: nothing to read
    assert reads == []
    _, missing, running = slot_history(study, 2, 2, 4)
    assert (missing, [t.number for t in running]) == ([], [0])
    study.tell(first, 0.5)
    for _ in range(3):
        visible, missing, running = slot_history(study, 2, 2, 4)
        assert ([(t.number, t.value) for t in visible], missing, running) == ([(0, 0.5)], [], [])
    assert len(reads) == 2  # running, then final: kept from there


def record_all() -> dict[str, Any]:
    mp = pytest.MonkeyPatch()
    mp.setattr(trials_module, "fit_members", fake_fit_members)
    try:
        with tempfile.TemporaryDirectory() as folder:
            return {case: short_study(case, Path(folder)) for case in sorted(CASES)}
    finally:
        mp.undo()


if __name__ == "__main__":
    sys.stdout.write(json.dumps(record_all(), indent=1, sort_keys=True) + "\n")
