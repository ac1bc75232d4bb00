"""A training trial's writes to the store, batched: what the trial loop pays per epoch (issue 26).

A trial writes its validation objective after every epoch (Optuna's ``trial.report``), the pruner its
rungs, and the loop what the trial trained as it ends; one SQLite transaction each cost a small
model's trial more than its training. While a trial trains (from :func:`hold` until its state is set)
:class:`BatchedTrialWrites` keeps those writes (intermediate values, user and system attributes) in
memory and writes them in one transaction at most every :data:`FLUSH_SECONDS` and always before the
trial's state changes, so a finished trial is stored whole before anyone can read it as finished.
Nothing else is held back: creating a trial, its worker, run, slot, start and parameters are written
at once (other workers read them), and heartbeats keep their own thread.

This process reads a held trial with its pending writes (Optuna's ``should_prune`` reads the trial's
rungs, the sampler reads the study). Other processes read a running trial's intermediate values and
rungs at most :data:`FLUSH_SECONDS` late; none of their decisions reads them (the slot sampler and
pruner see finished trials only, :mod:`benchmark.tuning.study`). A worker killed mid-trial loses its
pending writes with the trial, which is failed as it would have been.

Reads that need unfinished trials only (Optuna's look for waiting trials at every ask, the liveness
check's running trials, a running trial's attributes) go to the store behind Optuna's read cache, for
exactly what they ask: the cache would re-read every unfinished trial of the study whole. And the
storage counts the trial writes made through it (:attr:`BatchedTrialWrites.writes`), so that a caller
holding trials it read can tell whether this process has changed the study since.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import FrozenTrial, TrialState

# The longest a training trial's writes wait (a dashboard's lag), not a decision's. $BENCHMARK_FLUSH_SECONDS
# sets it: 0 writes every epoch at once, for a dashboard that should follow each epoch live, or a test that
# watches a trial train from another process.
FLUSH_SECONDS = float(os.environ.get("BENCHMARK_FLUSH_SECONDS", "5.0"))
UNFINISHED = frozenset({TrialState.RUNNING, TrialState.WAITING})


@dataclass
class Pending:
    """The writes of one held trial not yet in the store."""

    since: float  # when the last batch was written (or the trial was held)
    values: dict[int, float] = field(default_factory=dict)  # intermediate values by step
    user: dict[str, Any] = field(default_factory=dict)
    system: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.values or self.user or self.system)


class BatchedTrialWrites(BaseStorage, BaseHeartbeat):
    """Optuna's storage ``real`` (the study's, cached), with the writes of held trials batched."""

    def __init__(self, real: BaseStorage):
        self._real = real
        self._held: dict[int, Pending] = {}
        self.writes = 0  # trial writes made through this storage (held ones included)

    @property
    def _backend(self) -> BaseStorage:  # the storage behind the cache, as Optuna's own cache names it
        return getattr(self._real, "_backend", self._real)

    def hold(self, trial_id: int) -> None:
        """Batch the trial's writes from now until its state is set."""
        self._held.setdefault(trial_id, Pending(time.monotonic()))

    def flush(self, trial_id: int) -> None:
        """Write the trial's pending writes now (one transaction on an RDB storage)."""
        pending = self._held.get(trial_id)
        if not pending:
            return
        write_batch(self._real, trial_id, pending)
        self._held[trial_id] = Pending(time.monotonic())

    def _held_write(self, trial_id: int, kind: str, key: Any, value: Any) -> bool:
        self.writes += 1
        pending = self._held.get(trial_id)
        if pending is None:
            return False
        getattr(pending, kind)[key] = value
        if time.monotonic() - pending.since >= FLUSH_SECONDS:
            self.flush(trial_id)
        return True

    # -- writes -----------------------------------------------------------------------------------
    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        if not self._held_write(trial_id, "values", step, intermediate_value):
            self._real.set_trial_intermediate_value(trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        if not self._held_write(trial_id, "user", key, value):
            self._real.set_trial_user_attr(trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        if not self._held_write(trial_id, "system", key, value):
            self._real.set_trial_system_attr(trial_id, key, value)

    def set_trial_state_values(self, trial_id: int, state, values=None) -> bool:
        self.writes += 1
        if trial_id in self._held and state.is_finished():
            try:
                self.flush(trial_id)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # another worker finished it: the state write below says so, as before
            del self._held[trial_id]
        return self._real.set_trial_state_values(trial_id, state, values)

    # -- reads of held trials include their pending writes ----------------------------------------
    def _with_pending(self, trial: FrozenTrial) -> FrozenTrial:
        pending = self._held.get(trial._trial_id)
        if not pending:
            return trial
        merged = copy.copy(trial)
        merged.intermediate_values = {**trial.intermediate_values, **pending.values}
        merged.user_attrs = {**trial.user_attrs, **pending.user}
        merged.system_attrs = {**trial.system_attrs, **pending.system}
        return merged

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self._with_pending(self._real.get_trial(trial_id))

    def get_all_trials(self, study_id: int, deepcopy: bool = True, states=None) -> list[FrozenTrial]:
        # Unfinished states only: the store holds them, the cache would re-read every unfinished trial whole.
        source = self._backend if states is not None and UNFINISHED.issuperset(states) else self._real
        trials = source.get_all_trials(study_id, deepcopy=deepcopy, states=states)
        return [self._with_pending(t) for t in trials] if any(self._held.values()) else trials

    # A trial's attributes alone (the slot pruner reads a running trial's): the cache reads the whole trial.
    def get_trial_user_attrs(self, trial_id: int) -> dict[str, Any]:
        return {**self._backend.get_trial_user_attrs(trial_id), **getattr(self._held.get(trial_id), "user", {})}

    def get_trial_system_attrs(self, trial_id: int) -> dict[str, Any]:
        return {**self._backend.get_trial_system_attrs(trial_id), **getattr(self._held.get(trial_id), "system", {})}

    # -- everything else is the real storage's ----------------------------------------------------
    def create_new_study(self, *a, **k):
        return self._real.create_new_study(*a, **k)

    def delete_study(self, *a, **k):
        return self._real.delete_study(*a, **k)

    def set_study_user_attr(self, *a, **k):
        return self._real.set_study_user_attr(*a, **k)

    def set_study_system_attr(self, *a, **k):
        return self._real.set_study_system_attr(*a, **k)

    def get_study_id_from_name(self, *a, **k):
        return self._real.get_study_id_from_name(*a, **k)

    def get_study_name_from_id(self, *a, **k):
        return self._real.get_study_name_from_id(*a, **k)

    def get_study_directions(self, *a, **k):
        return self._real.get_study_directions(*a, **k)

    def get_study_user_attrs(self, *a, **k):
        return self._real.get_study_user_attrs(*a, **k)

    def get_study_system_attrs(self, *a, **k):
        return self._real.get_study_system_attrs(*a, **k)

    def get_all_studies(self, *a, **k):
        return self._real.get_all_studies(*a, **k)

    def create_new_trial(self, *a, **k):
        self.writes += 1
        return self._real.create_new_trial(*a, **k)

    def set_trial_param(self, *a, **k):
        self.writes += 1
        return self._real.set_trial_param(*a, **k)

    def get_trial_id_from_study_id_trial_number(self, *a, **k):
        return self._real.get_trial_id_from_study_id_trial_number(*a, **k)

    def get_trial_number_from_id(self, *a, **k):
        return self._real.get_trial_number_from_id(*a, **k)

    def get_trial_param(self, *a, **k):
        return self._real.get_trial_param(*a, **k)

    def get_trial_params(self, *a, **k):
        return self._real.get_trial_params(*a, **k)

    def get_n_trials(self, *a, **k):
        return self._real.get_n_trials(*a, **k)

    def get_best_trial(self, *a, **k):  # complete trials only: none is held
        return self._real.get_best_trial(*a, **k)

    def remove_session(self) -> None:
        self._real.remove_session()

    # heartbeats (Optuna's stale-trial check asks the study's storage for them)
    def record_heartbeat(self, trial_id: int) -> None:
        self._real.record_heartbeat(trial_id)  # type: ignore[attr-defined]

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        return self._real._get_stale_trial_ids(study_id)  # type: ignore[attr-defined]

    def get_heartbeat_interval(self) -> int | None:
        return self._real.get_heartbeat_interval() if isinstance(self._real, BaseHeartbeat) else None

    def get_heartbeat_stale_trial_callback(self):
        return self._real.get_heartbeat_stale_trial_callback() if isinstance(self._real, BaseHeartbeat) else None


def batched(storage: BaseStorage) -> BatchedTrialWrites:
    """``storage`` as a study of the trial loop uses it (RDB storages with Optuna's read cache)."""
    return storage if isinstance(storage, BatchedTrialWrites) else BatchedTrialWrites(optuna.storages.get_storage(storage))


def hold(study: optuna.Study, trial_id: int) -> None:
    """Batch the trial's writes until its state is set (a study over another storage writes at once)."""
    if isinstance(study._storage, BatchedTrialWrites):
        study._storage.hold(trial_id)


def write_batch(storage: BaseStorage, trial_id: int, pending: Pending) -> None:
    """One trial's pending writes: one transaction on an RDB storage (Optuna's own statements, the
    intermediate values as one insert), else one write each through Optuna's interface."""
    backend = getattr(storage, "_backend", storage)
    if not isinstance(backend, optuna.storages.RDBStorage):
        for step, value in pending.values.items():
            storage.set_trial_intermediate_value(trial_id, step, value)
        for key, value in pending.user.items():
            storage.set_trial_user_attr(trial_id, key, value)
        for key, value in pending.system.items():
            storage.set_trial_system_attr(trial_id, key, value)
        return
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from sqlalchemy import insert

    with _create_scoped_session(backend.scoped_session) as session:
        trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
        backend.check_trial_is_updatable(trial_id, trial.state)
        if pending.values:
            rows = []
            for step, value in pending.values.items():
                stored, kind = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(value)
                rows.append({"trial_id": trial_id, "step": step, "intermediate_value": stored,
                             "intermediate_value_type": kind})
            session.execute(insert(models.TrialIntermediateValueModel), rows)
        for model, attrs in ((models.TrialUserAttributeModel, pending.user),
                             (models.TrialSystemAttributeModel, pending.system)):
            for key, value in attrs.items():
                backend._set_trial_attr_without_commit(session, model, trial_id, key, value)
