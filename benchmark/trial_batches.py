"""Tuning with stacked trials (``--stack-trials M``): M trials of one study trained at once.

Small models leave a GPU mostly idle; :func:`benchmark.training.stacked.fit_many` trains M trials of
one split as one stacked model (one forward and backward pass for all, each member with its own
seed, learning rate, weight decay, data and loss), or one after another where they do not stack.
Here the tuning loop asks Optuna for M trials at once (TPE's constant liar keeps them apart), builds
their recipes, trains them with ``fit_many`` and tells Optuna each outcome. Everything else is as in
:func:`benchmark.tuning.run_trials`: the exact budget by trial number, per-epoch reports and
pruning per member (a pruned member stops alone), time caps, failures with their reasons, and
heartbeats so that a lost worker's trials are failed as interrupted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from benchmark.errors import BenchmarkError
from benchmark.heartbeat import beating
from benchmark.metrics import compute_metrics
from benchmark.protocol import trial_seed
from benchmark.store import worker_id
from benchmark.tuning import (
    PairJob,
    TimeCapReached,
    describe_failure,
    fail_interrupted_trials,
    open_study,
    release_device_memory,
    split_params,
    suggest_params,
)
from benchmark.tuning_budget import INTERRUPTED, OVER_BUDGET, spent, time_left, within_budget


@dataclass
class Member:
    trial: optuna.Trial
    recipe: Any
    config: Any
    seed: int
    epochs: int = 0


def run_trial_batches(job: PairJob, storage: optuna.storages.BaseStorage, group: int, on_trial=None) -> optuna.Study:
    """Run the pair's trials ``group`` at a time until its budget is used up (by this and any other worker)."""
    from benchmark.training.stacked import fit_many

    study = open_study(job, storage)
    me = worker_id()
    while True:
        fail_interrupted_trials(study)
        used = spent(study, job.budget)
        if used["stopped_by"] is not None:
            break
        members, refused = [], False
        for _ in range(min(group, job.budget.trials - used["trials"])):
            trial = study.ask()
            trial.set_user_attr("worker", me)
            if not within_budget(study, trial.number, job.budget.trials):  # other workers took the last slots first
                refused = True
                finish(study, trial, TrialState.FAIL, failure=OVER_BUDGET)
                continue
            member = prepare(study, trial, job)
            if member is not None:
                members.append(member)
        if members:
            train_batch(job, study, storage, members, time_left(used, job.budget), fit_many)
        if on_trial is not None:
            on_trial(study)
        if refused:
            break
    return study


def prepare(study: optuna.Study, trial: optuna.Trial, job: PairJob) -> Member | None:
    """Suggest the trial's parameters and build its recipe; a failure fails the trial alone."""
    try:
        params = suggest_params(trial, job)
        trial.set_user_attr("params", params)
        method_params, config = split_params(params, job.config)
        seed = trial_seed(job.sampler_seed, trial.number)
        return Member(trial, job.method.build(method_params, job.context(seed)), config, seed)
    except Exception as exc:
        finish(study, trial, TrialState.FAIL, failure=describe_failure(exc))
        return None


def finish(study: optuna.Study, trial: optuna.Trial, state: TrialState, value: float | None = None,
           failure: str | None = None) -> None:
    if failure is not None:
        trial.set_user_attr("failure", failure)
    study.tell(trial, value if state == TrialState.COMPLETE else None, state=state, skip_if_finished=True)


def train_batch(job: PairJob, study: optuna.Study, storage, members: list[Member], seconds_left: float | None,
                fit_many) -> None:
    started = time.monotonic()

    def on_epoch(m: int, epoch: int, val_proba: np.ndarray) -> None:
        member = members[m]
        member.epochs = epoch + 1
        member.trial.set_user_attr("epochs", member.epochs)
        metrics, _ = compute_metrics(job.split.val.y, val_proba, job.split.minority_classes)
        if math.isfinite(metrics[job.objective]):
            member.trial.report(metrics[job.objective], member.epochs)
        if seconds_left is not None and time.monotonic() - started >= seconds_left:
            raise TimeCapReached(f"the pair's time cap was reached after epoch {member.epochs}")
        if member.epochs < member.config.epochs and member.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {member.epochs}")

    with heartbeats(storage, [m.trial._trial_id for m in members]):
        try:
            results = fit_many(job.split, [m.recipe for m in members], [m.config for m in members],
                               [m.seed for m in members], device=job.device, on_epoch=on_epoch)
        except KeyboardInterrupt:
            for m in members:
                finish(study, m.trial, TrialState.FAIL, failure=f"{INTERRUPTED}: Ctrl-C")
            raise
        except Exception as exc:  # the batch as a whole failed (out of memory, ...): every member with it
            release_device_memory(job.device)
            for m in members:
                finish(study, m.trial, TrialState.FAIL, failure=describe_failure(exc))
            return
    for member, result in zip(members, results, strict=True):
        tell_result(job, study, member, result)


def tell_result(job: PairJob, study: optuna.Study, member: Member, result: Any) -> None:
    trial = member.trial
    if isinstance(result, optuna.TrialPruned):
        trial.set_user_attr("pruned", str(result))
        finish(study, trial, TrialState.PRUNED)
        return
    if isinstance(result, BaseException):
        finish(study, trial, TrialState.FAIL, failure=describe_failure(result))
        return
    try:
        metrics, _ = compute_metrics(job.split.val.y, result.predict_proba(job.split.val.X),
                                     job.split.minority_classes)
        value = float(metrics[job.objective])
        if not math.isfinite(value):
            raise BenchmarkError(f"the objective {job.objective} is {value} on the validation split",
                                 "choose an objective defined on this dataset's validation split")
    except Exception as exc:
        finish(study, trial, TrialState.FAIL, failure=describe_failure(exc))
        return
    trial.set_user_attr("epochs", max(member.epochs, 1))
    trial.set_user_attr("val_metrics", metrics)
    finish(study, trial, TrialState.COMPLETE, value)


@contextmanager
def heartbeats(storage, trial_ids: list[int]) -> Iterator[None]:
    """Record a heartbeat for each trial of the batch while it trains, as ``Study.optimize`` does for one."""
    interval = storage.get_heartbeat_interval() if isinstance(storage, optuna.storages.RDBStorage) else None
    if not interval:
        yield
        return

    def beat() -> None:
        for trial_id in trial_ids:
            storage.record_heartbeat(trial_id)

    with beating(beat, interval, "trial-heartbeats"):
        yield
