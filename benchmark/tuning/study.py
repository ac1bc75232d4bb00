"""The study of one pair: opened once per worker, the deterministic sampler and pruner, and the trials
whose worker is gone.

Tuning is deterministic whatever happens to the run: the configuration of budget slot k (see
:mod:`benchmark.tuning.budget`) depends only on the suite, the pair and k. The sampler of slot k is TPE
seeded with (seed, k) that sees only the finished trials of slots 0..k-W, renumbered by slot, for a
tuning width W the suite fixes (``Suite.tuning_width``); the trial loop waits until those slots are
final before it samples (:func:`await_history`; the history itself: :mod:`benchmark.tuning.history`).
The pruner sees the same history. So one worker, two
workers, trials finishing in another order, or a run killed and resumed (an interrupted slot is run
again, with the same configuration) all give slot k the same parameters, the same training seed and
so the same score. The shared training parameters (``Suite.tune``) are drawn first, so every method of
a suite sees the same startup values of them.

A trial that was running when its worker died is failed by the next worker that looks at the study:
at once for a dead process on the same host whose run stopped too ("interrupted": never charged),
:data:`SETTLE_SECONDS` later for one whose run went on without it ("worker died": the worker's own
death, charged after a slot's retries), after the heartbeat grace period for a lost machine
("interrupted"), and, for a trial that never recorded its worker or a heartbeat (its process was killed
just as Optuna created it), once it has been seen that way for the grace period ("interrupted").
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from benchmark.errors import BenchmarkError
from benchmark.protocol import Budget
from benchmark.store.liveness import worker_gone
from benchmark.tuning.budget import (
    INTERRUPTED,
    RELEASED,
    RUN,
    SLOT,
    WORKER_DIED,
    charged_trials,
    open_slot,
)
from benchmark.tuning.history import history_view, slot_history, slot_of
from benchmark.tuning.job import PairJob
from benchmark.tuning.writes import batched

PRUNERS = ("hyperband", "successive-halving", "median", "none")
DEFAULT_GRACE = 30.0  # seconds; storages without heartbeats (in memory) have no grace period of their own
# Seconds a dead worker's run must outlive it before the death counts as the worker's own: a kill of the
# whole run (a process group's SIGKILL) reaches its every process well within this.
SETTLE_SECONDS = 5.0

optuna.logging.set_verbosity(optuna.logging.CRITICAL)  # trial outcomes are recorded in the store instead

Waiting = Callable[[str], None]  # told what a worker waits for (the run layer shows it)


def _real_study(study: optuna.Study) -> optuna.Study:
    return getattr(study, "_study", study)  # Optuna's bracket view of a study keeps the study itself


class TrialSeededTPE(optuna.samplers.BaseSampler):
    """TPE whose draws for slot k depend only on (seed, k) and the finished slots 0..k-W.

    One seeded TPE object per process would give every worker the same random stream and a resumed
    run a different one; one TPE over the whole study would condition on whatever happened to finish.
    Here slot k uses ``TPESampler(seed=seed * 1_000_003 + k)`` over :func:`history` (renumbered, so
    trial numbers never matter). The trial loop has waited for that history (:func:`await_history`).
    """

    def __init__(self, seed: int, n_startup_trials: int, width: int = 1, budget: int | None = None):
        self.seed, self.n_startup_trials, self.width, self.budget = seed, n_startup_trials, width, budget
        self._cached: tuple[int, optuna.samplers.TPESampler, optuna.Study] | None = None

    def _for(self, study: optuna.Study, trial: FrozenTrial) -> tuple[optuna.samplers.TPESampler, optuna.Study]:
        if self._cached is None or self._cached[0] != trial._trial_id:
            study = _real_study(study)
            slot = slot_of(trial)
            budget = self.budget if self.budget is not None else slot + 1
            visible, _, _ = slot_history(study, slot, self.width, budget)
            tpe = optuna.samplers.TPESampler(seed=self.seed * 1_000_003 + slot,
                                             n_startup_trials=self.n_startup_trials)
            self._cached = (trial._trial_id, tpe, history_view(study, visible))
        return self._cached[1], self._cached[2]

    def infer_relative_search_space(self, study, trial):
        tpe, view = self._for(study, trial)
        return tpe.infer_relative_search_space(view, trial)

    def sample_relative(self, study, trial, search_space):
        tpe, view = self._for(study, trial)
        return tpe.sample_relative(view, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        tpe, view = self._for(study, trial)
        return tpe.sample_independent(view, trial, param_name, param_distribution)


class SlotPruner(optuna.pruners.BasePruner):
    """A pruner that judges slot k against the finished slots 0..k-W only, numbered by slot (so
    Hyperband's brackets and the median of earlier trials are the same in every run).

    It is asked after every epoch of every trial, and reading the study each time cost a small model's
    trial more than its training (issue 26). So an epoch reads nothing from the store: the history of
    slot k is read once it is final (every slot 0..k-W held by a finished trial: the trial loop waits for
    that before it trains, :func:`await_history`, which leaves it in :func:`slot_history`; it never
    changes after), and a running trial's system attributes (the rungs Hyperband and successive halving
    record) once per trial, then kept as the pruner writes them (it alone writes them). The decisions are
    those of a fresh read each epoch."""

    def __init__(self, inner: optuna.pruners.BasePruner, width: int, budget: int):
        self.inner, self.width, self.budget = inner, width, budget
        self._final: dict[tuple[int, int], optuna.Study] = {}  # (study id, slot) -> its final history's view
        self._attrs: dict[int, dict[str, Any]] = {}  # running trial id -> its system attributes

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        study = _real_study(study)
        slot = slot_of(trial)
        view = self._final.get((study._study_id, slot))
        if view is None:
            visible, missing, running = slot_history(study, slot, self.width, self.budget)
            view = history_view(study, visible, self._attrs)
            if not missing and not running:
                self._final[(study._study_id, slot)] = view
        renumbered = copy.copy(trial)
        renumbered.number = slot
        if trial._trial_id not in self._attrs:
            self._attrs[trial._trial_id] = dict(trial.system_attrs)  # the one read of the store per trial
        renumbered.system_attrs = self._attrs[trial._trial_id]
        return self.inner.prune(view, renumbered)


def make_pruner(name: str, max_epochs: int, engine: str = "deep") -> optuna.pruners.BasePruner:
    """The pruner of a study; steps are epochs done (1..max_epochs). Classical trials have one step: none."""
    if name not in PRUNERS:
        raise BenchmarkError(f"pruner {name!r} is unknown", f"use one of {', '.join(PRUNERS)}")
    if name == "none" or engine != "deep":
        return optuna.pruners.NopPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(max_epochs, 1), reduction_factor=3)
    if name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)


def open_study(job: PairJob, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """Create or load the pair's study; a study started under another protocol is refused."""
    pruner = make_pruner(job.pruner, job.config.epochs, job.engine)
    if not isinstance(pruner, optuna.pruners.NopPruner):
        pruner = SlotPruner(pruner, job.width, job.budget.trials)
    study = optuna.create_study(
        storage=batched(storage),  # a training trial's writes in batches (benchmark.tuning.writes)
        study_name=job.study_name,
        direction="maximize",
        sampler=TrialSeededTPE(job.sampler_seed, min(10, job.budget.trials), job.width, job.budget.trials),
        pruner=pruner,
        load_if_exists=True,
    )
    asked = job.protocol()
    stored = study.user_attrs.get("protocol")
    if stored is None:
        study.set_user_attr("protocol", asked)
    elif stored != asked:
        raise BenchmarkError(
            f"study '{job.study_name}' was started with {differences(stored, asked)}",
            "run with the original --trials/--seeds/--timeout/--objective/--pruner and suite settings to resume, "
            "or use another --storage (or suite) for a new budget",
        )
    if not study.metric_names:  # optuna-dashboard then names the objective instead of "Objective 0"
        with warnings.catch_warnings():  # set_metric_names is "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([job.objective])
    return study


def differences(stored: dict[str, Any], asked: dict[str, Any], prefix: str = "") -> str:
    """'trials 2 (this run asks for 3), ...' over the keys whose values differ; nested settings by their
    own keys ('config.cpu_threads None (this run asks for 1)'), so one changed setting is one short item.
    A setting missing from the stored protocol (added by a later version) shows as None."""
    keys = sorted(set(stored) | set(asked))
    parts = []
    for k in keys:
        old, new = stored.get(k), asked.get(k)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            parts.append(differences(old, new, f"{prefix}{k}."))
        else:
            parts.append(f"{prefix}{k} {old!r} (this run asks for {new!r})")
    return ", ".join(parts)


# -- trials whose worker is gone ----------------------------------------------------------------------
def grace_seconds(storage: optuna.storages.BaseStorage) -> float:
    """How long a silent trial may go before it is failed: the storage's heartbeat grace period."""
    backend = getattr(storage, "_backend", storage)
    interval = getattr(backend, "heartbeat_interval", None)
    if not interval:
        return DEFAULT_GRACE
    return float(getattr(backend, "grace_period", None) or 2 * interval)


_first_seen: dict[tuple[int, int], float] = {}  # (storage, trial id) -> when first seen without a worker
_death_seen: dict[tuple[int, int], float] = {}  # (storage, trial id) -> when its worker was first seen dead


def fail_interrupted_trials(study: optuna.Study, grace: float | None = None,
                            trials: list[FrozenTrial] | None = None) -> list[int]:
    """Fail the trials whose worker is gone: a dead process on this host (see :func:`dead_worker_reason`),
    a silent worker on another machine once its heartbeat is older than the storage's grace period, and
    a trial that has shown neither a worker nor a heartbeat for the grace period (its process died as
    Optuna created it: the loop records a heartbeat and its worker right after). Returns the numbers
    failed. ``trials``: the study's trials as just read (None: read its running ones)."""
    grace = grace_seconds(study._storage) if grace is None else grace
    now, failed = time.monotonic(), []
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if trials is None else [
        t for t in trials if t.state == TrialState.RUNNING]
    for t in running:
        worker = t.user_attrs.get("worker")
        if worker_gone(worker):
            reason = dead_worker_reason(study, t, now)
            if reason is not None and fail_trial(study, t, reason):
                failed.append(t.number)
        elif worker is None:
            seen = _first_seen.setdefault((id(study._storage), t._trial_id), now)
            if now - seen >= grace and fail_trial(
                    study, t, f"{INTERRUPTED}: it showed no worker and no heartbeat for {grace:.0f} s "
                              "(its process was stopped as the trial was created)"):
                failed.append(t.number)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # no-op without heartbeats
    return failed


def current_trials(study: optuna.Study, grace: float | None = None) -> list[FrozenTrial]:
    """The study's trials once those of gone workers are failed (:func:`fail_interrupted_trials`): one
    read of the store, and a second only when this process wrote to the study meanwhile (it failed one)."""
    writes = getattr(study._storage, "writes", None)  # None: a storage that does not count them
    trials = study.get_trials(deepcopy=False)
    fail_interrupted_trials(study, grace, trials)
    if writes is None or study._storage.writes != writes:
        trials = study.get_trials(deepcopy=False)
    return trials


def dead_worker_reason(study: optuna.Study, t: FrozenTrial, now: float) -> str | None:
    """Why a trial whose worker process is gone (on this host) ended: its run stopped as well (its run's
    process is gone too, or none was recorded): "interrupted"; its run went on without it for
    :data:`SETTLE_SECONDS`: "worker died"; None while the run has not yet outlived it that long."""
    worker, run = t.user_attrs["worker"], t.user_attrs.get(RUN)
    pid = worker.rpartition(":")[2]
    if run is None or run == worker or worker_gone(run) is not False:
        return f"{INTERRUPTED}: its worker process {pid} died and its run stopped"
    seen = _death_seen.setdefault((id(study._storage), t._trial_id), now)
    if now - seen < SETTLE_SECONDS:
        return None
    return f"{WORKER_DIED}: its worker process {pid} died while its run (process {run.rpartition(':')[2]}) went on"


def fail_trial(study: optuna.Study, trial: FrozenTrial, reason: str) -> bool:
    """Mark a running trial failed with ``reason``; False when another worker finished it first."""
    storage = study._storage
    try:
        storage.set_trial_user_attr(trial._trial_id, "failure", reason)
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    return True


# -- waiting for other workers ---------------------------------------------------------------------------
def describe(trials: list[FrozenTrial]) -> str:
    """'trial 3 (slot 1, worker host:123)', ... for a message."""
    def one(t: FrozenTrial) -> str:
        slot = f"slot {t.user_attrs[SLOT]}, " if SLOT in t.user_attrs else ""
        return f"trial {t.number} ({slot}worker {t.user_attrs.get('worker', 'not recorded')})"
    return ", ".join(one(t) for t in sorted(trials, key=lambda t: t.number))


class Waiter:
    """Polls for other workers' trials; tells ``on_wait`` what it waits for (once per change) and gives
    up with a BenchmarkError naming the study and the trials after ``limit`` seconds."""

    def __init__(self, study: optuna.Study, on_wait: Waiting | None = None, poll: float = 0.5,
                 limit: float = 24 * 3600, grace: float | None = None):
        self.study, self.on_wait, self.poll, self.limit, self.grace = study, on_wait, poll, limit, grace
        self.started: float | None = None
        self.told: str | None = None

    def wait(self, what: str, trials: list[FrozenTrial]) -> None:
        """One poll's sleep while ``trials`` (run elsewhere) hold up this worker."""
        now = time.monotonic()
        self.started = now if self.started is None else self.started
        message = f"study '{self.study.study_name}' waits for {what}: {describe(trials)}"
        if now - self.started > self.limit:
            raise BenchmarkError(
                f"{message}, still running after {self.limit:.0f} s",
                "check those workers (a worker that is gone is detected within the heartbeat grace period); "
                "stop a stuck one and run again to resume")
        if message != self.told and self.on_wait is not None:
            self.on_wait(message)
        self.told = message
        time.sleep(self.poll)
        fail_interrupted_trials(self.study, self.grace)

    def done(self) -> None:
        self.started = self.told = None


def take_slot(study: optuna.Study, trial: optuna.Trial, budget: int, waiter: Waiter
              ) -> tuple[int | None, list[FrozenTrial]]:
    """The slot of a trial just asked for (recorded as its user attribute), or None (every slot is taken);
    with the study's trials as last read, the trial's slot recorded there too (for :func:`await_history`).

    Slots are decided in trial-number order: first every earlier trial has taken its slot (or
    finished), so two workers never take one slot, and an orphan that never will is failed after the
    grace period."""
    while True:
        trials = study.get_trials(deepcopy=False)
        before = [t for t in trials if t.number < trial.number]
        pending = [t for t in before if t.state == TrialState.RUNNING and SLOT not in t.user_attrs]
        if not pending:
            break
        waiter.wait("earlier trials to take their slots", pending)
    waiter.done()
    slot = open_slot(before, budget)
    if slot is not None:
        trial.set_user_attr(SLOT, slot)
        trials = [with_user_attr(t, SLOT, slot) if t._trial_id == trial._trial_id else t for t in trials]
    return slot, trials


def with_user_attr(trial: FrozenTrial, key: str, value: Any) -> FrozenTrial:
    """A copy of ``trial`` as read after this process set its user attribute ``key``."""
    changed = copy.copy(trial)
    changed.user_attrs = {**trial.user_attrs, key: value}
    return changed


def await_history(study: optuna.Study, trial: optuna.Trial, width: int, budget: int, waiter: Waiter,
                  trials: list[FrozenTrial] | None = None) -> bool:
    """Wait until the slots trial's slot conditions on (0..k-W) are final; False when one of them is
    free (its trial was interrupted): the trial is then released, so that the slot runs first. The first
    look is at ``trials`` where given (the study as just read, this process's writes since included), then
    at the store after each wait; the final history stays in :func:`slot_history` for the sampler and
    pruner."""
    slot = trial.user_attrs[SLOT]
    while True:
        _, missing, running = slot_history(study, slot, width, budget, trials)
        trials = None  # after a wait, read again: other workers have moved on
        if missing:
            trial.set_user_attr("failure", f"{RELEASED}: slot {missing[0]} is re-run before slot {slot}")
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            waiter.done()
            return False
        if not running:
            waiter.done()
            return True
        waiter.wait(f"the slots that slot {slot} builds on", running)


def best_trial(study: optuna.Study, budget: Budget, trials: list[FrozenTrial] | None = None) -> FrozenTrial | None:
    """The best completed trial of the budget; ties go to the lower slot (not trial number: that
    depends on the run's history). ``trials``: the study's trials as just read (None: read them)."""
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    complete = [t for t in charged_trials(trials, budget.trials) if t.state == TrialState.COMPLETE]
    return max(complete, key=lambda t: (t.value, -slot_of(t))) if complete else None


def trial_params(trial: FrozenTrial) -> dict[str, Any]:
    """The parameters a trial's method was built with (Optuna's suggestions plus derived values)."""
    return dict(trial.user_attrs.get("params") or trial.params)


def wait_for_trials(study: optuna.Study, budget: Budget, on_wait: Waiting | None = None, poll: float = 0.5,
                    limit: float = 24 * 3600, grace: float | None = None) -> list[FrozenTrial]:
    """Wait until no trial within the budget is still running elsewhere (the best must be final),
    telling ``on_wait`` what it waits for; a trial whose worker is gone is failed (see
    :func:`fail_interrupted_trials`), and after ``limit`` seconds it gives up with a BenchmarkError.
    Returns the study's trials as last read (none of the budget's running)."""
    waiter = Waiter(study, on_wait, poll, limit, grace)
    trials = current_trials(study, grace)
    while running := [t for t in charged_trials(trials, budget.trials) if t.state == TrialState.RUNNING]:
        waiter.wait("trials of its budget running elsewhere", running)
        trials = study.get_trials(deepcopy=False)
    return trials
