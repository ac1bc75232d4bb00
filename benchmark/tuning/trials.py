"""The trial loop: trials of one pair's study until its budget is spent, one at a time or M at once.

The budget is exact even when several processes on several machines share a study: a trial asked for
once the budget is taken is refused (recorded failed, "over budget") before any work. Trials report
the validation objective after every epoch (step = epochs done) so the pruner can stop hopeless ones;
optional caps on wall-clock and device seconds stop a pair's tuning early, at an epoch boundary.

With ``--stack-trials M`` (``PairJob.stack``) the loop asks Optuna for M trials at once (TPE's
constant liar keeps them apart) and trains them with :func:`benchmark.training.stacked.fit_many` as
one stacked model (one forward and backward pass for all, each member with its own seed, learning
rate, weight decay, data and loss), which is how small models fill a large GPU; otherwise each trial
is trained by its engine's ``fit``. Either way the same code reports epochs, prunes, caps time,
records failures with their reasons and keeps a heartbeat per trial, so that a lost worker's trials
are failed as interrupted. The test split is never read here.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from benchmark.errors import BenchmarkError, describe_failure
from benchmark.metrics import compute_metric, compute_metrics
from benchmark.protocol import trial_seed
from benchmark.store.full_disk import disk_full
from benchmark.store.liveness import beating, run_id, worker_id
from benchmark.training import get_engine
from benchmark.training.epochs import epoch_compute
from benchmark.tuning.budget import (
    INTERRUPTED,
    OVER_BUDGET,
    RUN,
    SLOT,
    STARTED,
    charged_trials,
    spent,
    time_left,
)
from benchmark.tuning.job import PairJob, suggest_params
from benchmark.tuning.study import Waiter, await_history, current_trials, open_study, take_slot
from benchmark.tuning.writes import hold


class TimeCapReached(optuna.TrialPruned):
    """A trial stopped at an epoch boundary because the pair's time cap was spent (recorded pruned)."""


@dataclass
class Member:
    """One trial being trained: its recipe, training settings and seed, and the epochs it has done."""

    trial: optuna.Trial
    recipe: Any
    config: Any
    seed: int
    epochs: int = 0


def run_trials(job: PairJob, storage: optuna.storages.BaseStorage,
               on_trial: Callable[[optuna.Study, list[FrozenTrial]], None] | None = None,
               on_wait: Callable[[str], None] | None = None) -> optuna.Study:
    """Run trials of the pair's study until its budget is used up (by this and any other worker) and
    no trial of it runs anywhere; ``on_trial`` is given the study and its trials as read after each round
    of trials, ``on_wait`` what this worker waits for, when it waits.

    Each trial takes a budget slot, waits until the slots its sampler conditions on are final (see
    :mod:`benchmark.tuning.study`), then draws its configuration and trains with the slot's seed: slot k
    is the same configuration and the same seed in every run. Stacked trials are at most the suite's
    tuning width at once (a wider stack would wait on its own members)."""
    group = min(job.stack, job.width) if job.engine == "deep" else 1
    study = open_study(job, storage)
    waiter = Waiter(study, on_wait)
    me = worker_id()
    carried: optuna.Trial | None = None  # slotted, but its history holds a member of this worker's last stack
    told = True  # on_trial has seen the last round
    while True:
        trials = current_trials(study)  # one read for the liveness check, the budget, what runs and on_trial
        if not told and on_trial is not None:
            on_trial(study, trials)
        told = True
        used = spent(study, job.budget, trials)
        if used.stopped_by is not None and carried is None:
            running = [t for t in charged_trials(trials, job.budget.trials) if t.state == TrialState.RUNNING]
            if not running:
                break
            waiter.wait("trials of its budget running elsewhere", running)  # if one dies, its slot reopens
            continue
        waiter.done()
        members: list[Member] = []
        asked: list[optuna.Trial] = []
        slots: list[int] = []
        with heartbeats(storage, []) as beat:
            try:
                for _ in range(max(carried is not None, min(group, job.budget.trials - used.trials))):
                    read: list[FrozenTrial] | None = None  # the study as take_slot read it: the history's first look
                    if carried is not None:
                        trial, carried = carried, None
                        beat(trial._trial_id)
                        slots.append(int(trial.user_attrs[SLOT]))
                    else:
                        trial = ask(study, beat, me)
                        slot, read = take_slot(study, trial, job.budget.trials, waiter)
                        if slot is None:  # other workers took the last
                            finish(study, trial, TrialState.FAIL, failure=OVER_BUDGET)
                            break
                        # With other workers slots interleave: a slot whose history holds a member of this
                        # stack would wait on it forever; it trains first in the next stack instead.
                        if any(s <= slot - job.width for s in slots):
                            carried = trial
                            asked.append(trial)
                            break
                        slots.append(slot)
                    asked.append(trial)
                    if not await_history(study, trial, job.width, job.budget.trials, waiter, read):
                        break
                    trial.set_user_attr(STARTED, dt.datetime.now().isoformat())  # waiting is not compute
                    member = prepare(study, trial, job)
                    if member is not None:
                        members.append(member)
                if members:
                    train(job, study, storage, members, time_left(used, job.budget), stacked=group > 1)
            except KeyboardInterrupt:
                for trial in asked:
                    if study._storage.get_trial(trial._trial_id).state == TrialState.RUNNING:
                        finish(study, trial, TrialState.FAIL, failure=f"{INTERRUPTED}: Ctrl-C")
                raise
        told = False
    return study


def ask(study: optuna.Study, beat: Callable[[int], None], worker: str) -> optuna.Trial:
    """A new trial, with a heartbeat and then its worker and run recorded at once: a trial found without
    either for the grace period is an orphan (its process died here) and is failed as interrupted; a
    trial whose worker died is charged only when its run went on (benchmark.tuning.budget)."""
    with warnings.catch_warnings():  # the loop keeps each trial's heartbeat itself (heartbeats())
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        trial = study.ask()
    beat(trial._trial_id)
    trial.set_user_attr(RUN, run_id())
    trial.set_user_attr("worker", worker)
    return trial


def prepare(study: optuna.Study, trial: optuna.Trial, job: PairJob) -> Member | None:
    """Suggest the trial's parameters and build its recipe; a failure fails the trial alone. The
    training seed is the slot's, so a re-run slot trains exactly as it first did."""
    try:
        params = suggest_params(trial, job)
        trial.set_user_attr("params", params)  # all the method was built with, derived values included
        seed = trial_seed(job.sampler_seed, trial.user_attrs.get(SLOT, trial.number))
        recipe, config = job.build(params, seed)
        return Member(trial, recipe, config, seed)
    except KeyboardInterrupt:
        finish(study, trial, TrialState.FAIL, failure=f"{INTERRUPTED}: Ctrl-C")
        raise
    except Exception as exc:
        finish(study, trial, TrialState.FAIL, failure=describe_failure(exc))
        return None


def finish(study: optuna.Study, trial: optuna.Trial, state: TrialState, value: float | None = None,
           failure: str | None = None) -> None:
    if failure is not None:
        trial.set_user_attr("failure", failure)
    study.tell(trial, value if state == TrialState.COMPLETE else None, state=state, skip_if_finished=True)


def train(job: PairJob, study: optuna.Study, storage, members: list[Member], seconds_left: float | None,
          stacked: bool) -> None:
    """Train the members (stacked, or the single one with its engine) and tell Optuna each outcome."""
    started = time.monotonic()
    for m in members:  # from here to its end a trial's reports and attributes are written in batches
        hold(study, m.trial._trial_id)

    def on_epoch(m: int, epoch: int, val_proba: np.ndarray) -> None:
        member = members[m]
        member.epochs = epoch + 1
        # the objective alone: the rest of the metric table is computed once, for the trained model
        value = compute_metric(job.objective, job.split.val.y, val_proba, job.split.minority_classes)
        if math.isfinite(value):
            member.trial.report(value, member.epochs)
        if seconds_left is not None and time.monotonic() - started >= seconds_left:
            raise TimeCapReached(f"the pair's time cap was reached after epoch {member.epochs}")
        # After the last epoch the trial is as good as complete: pruning it would only discard its value.
        if member.epochs < member.config.epochs and member.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {member.epochs}")

    try:  # the trial loop keeps the members' heartbeats
        results = fit_members(job, members, on_epoch, stacked)
    except KeyboardInterrupt:
        for m in members:
            finish(study, m.trial, TrialState.FAIL, failure=f"{INTERRUPTED}: Ctrl-C")
        raise
    except Exception as exc:  # the batch as a whole failed (out of memory, ...): every member with it
        if disk_full(exc):  # the run's trouble, not the trials': the run stops (the trials count as interrupted)
            raise
        release_device_memory(job.device)
        for m in members:
            stamp_compute(job, m)
            finish(study, m.trial, TrialState.FAIL, failure=describe_failure(exc))
        return
    for member, result in zip(members, results, strict=True):
        tell_result(job, study, member, result)


def fit_members(job: PairJob, members: list[Member], on_epoch, stacked: bool) -> list[Any]:
    """A trained model, or the exception that ended it (pruned, failed), for each member."""
    if stacked:
        from benchmark.training.stacked import fit_many

        return fit_many(job.split, [m.recipe for m in members], [m.config for m in members],
                        [m.seed for m in members], device=job.device, on_epoch=on_epoch,
                        exact_only=job.stack_exact_only)
    (member,) = members
    try:
        return [get_engine(job.engine).fit(job.split, member.recipe, member.config, seed=member.seed,
                                           device=job.device, on_epoch=lambda e, p: on_epoch(0, e, p))]
    except optuna.TrialPruned as exc:
        return [exc]
    except Exception as exc:  # the trial failed (a diverged loss, out of memory, a bug): it alone
        release_device_memory(job.device)
        return [exc]


def stamp_compute(job: PairJob, member: Member, timings: dict[str, Any] | None = None) -> None:
    """Record, once, as its trial ends (complete, pruned, capped or failed), the epochs, training
    samples and optimiser steps it trained: the engine's own count where its fit returned one, else
    (the fit ended early) the epochs done times an epoch's fixed compute (deep engine)."""
    trial, timings = member.trial, timings or {}
    trial.set_user_attr("epochs", member.epochs)
    if "train_samples" in timings:
        trial.set_user_attr("samples", int(timings["train_samples"]))
        trial.set_user_attr("steps", int(timings.get("train_steps") or 0))
    elif job.engine == "deep" and member.epochs:  # every epoch trains the same fixed sample count
        samples, steps = epoch_compute(len(job.split.train), member.config.batch_size)
        trial.set_user_attr("samples", member.epochs * samples)
        trial.set_user_attr("steps", member.epochs * steps)


def tell_result(job: PairJob, study: optuna.Study, member: Member, result: Any) -> None:
    trial = member.trial
    if not isinstance(result, BaseException):  # a trained model: at least one epoch, counted by the engine
        member.epochs = max(member.epochs, 1)
    stamp_compute(job, member, None if isinstance(result, BaseException) else result.timings)
    if isinstance(result, optuna.TrialPruned):
        trial.set_user_attr("pruned", str(result))
        finish(study, trial, TrialState.PRUNED)
        return
    if isinstance(result, BaseException):
        if disk_full(result):
            raise result
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
    trial.set_user_attr("val_metrics", metrics)
    finish(study, trial, TrialState.COMPLETE, value)


def release_device_memory(device: str) -> None:
    """After a failed fit, return its cached GPU memory so the next trial (or a neighbour) can use it."""
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


@contextmanager
def heartbeats(storage, trial_ids: list[int]) -> Iterator[Callable[[int], None]]:
    """Keep a heartbeat for each trial of ``trial_ids`` while the block runs, so a lost worker's trials
    are found stale; yields ``beat(trial_id)``, which records one at once and adds the trial."""
    interval = storage.get_heartbeat_interval() if isinstance(storage, optuna.storages.RDBStorage) else None
    if not interval:
        yield trial_ids.append
        return

    def add(trial_id: int) -> None:
        storage.record_heartbeat(trial_id)
        trial_ids.append(trial_id)

    def beat() -> None:
        for trial_id in list(trial_ids):
            storage.record_heartbeat(trial_id)

    with beating(beat, interval, "trial-heartbeats"):
        yield add
