"""Tuning: one Optuna study per (suite, dataset, method) under an equal budget; best-config re-runs.

The budget is exact even when several processes share a study: a trial whose number is at or
beyond the budget is refused (recorded failed, "over budget") before any work, so the trials that
count are exactly numbers 0..budget-1 whoever ran them. Trials report the validation objective
after every epoch so the pruner can stop hopeless ones. The test split is only touched by
:func:`rerun_seed`, after tuning is over.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from benchmark.datasets.base import Split
from benchmark.errors import BenchmarkError
from benchmark.methods.base import Method, MethodContext
from benchmark.metrics import OBJECTIVES, compute_metrics, pr_curves
from benchmark.protocol import Budget, trial_seed
from benchmark.suites import SHARED_RANGES
from benchmark.training import get_engine
from benchmark.training.base import TrainingConfig

SHARED_PREFIX = "train."
OVER_BUDGET = "over budget"
PRUNERS = ("hyperband", "successive-halving", "median", "none")

optuna.logging.set_verbosity(optuna.logging.CRITICAL)  # trial outcomes are recorded in the store instead


class OverBudget(Exception):
    """Raised inside a trial whose number lies beyond the budget: it is recorded failed, and not counted."""


@dataclass
class PairJob:
    """Everything one (dataset, method) pair needs; the same for every worker of a run."""

    suite: str
    dataset: str
    method: Method
    split: Split
    engine: str
    config: TrainingConfig
    budget: Budget
    objective: str = "minority_f1"
    tune: tuple[str, ...] = ()
    device: str = "cpu"
    pruner: str = "hyperband"
    sampler_seed: int = 0

    @property
    def study_name(self) -> str:
        return f"{self.suite}::{self.dataset}::{self.method.name}"

    def context(self, seed: int) -> MethodContext:
        return MethodContext.from_split(self.split, self.engine, epochs=self.config.epochs, seed=seed)


def make_pruner(name: str, max_epochs: int) -> optuna.pruners.BasePruner:
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(max_epochs, 1), reduction_factor=3)
    if name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise BenchmarkError(f"pruner {name!r} is unknown", f"use one of {', '.join(PRUNERS)}")


def check_objective(name: str) -> None:
    if name not in OBJECTIVES:
        raise BenchmarkError(f"objective {name!r} is unknown", f"use one of {', '.join(OBJECTIVES)}")


def suggest_params(trial: optuna.Trial, job: PairJob) -> dict[str, Any]:
    """The method's own search space plus the shared training parameters the suite tunes for all."""
    params = dict(job.method.search_space(trial, job.context(seed=0)) or {})
    for name in job.tune:
        low, high, log = SHARED_RANGES[name]
        params[SHARED_PREFIX + name] = trial.suggest_float(SHARED_PREFIX + name, low, high, log=log)
    return params


def split_params(params: dict[str, Any], config: TrainingConfig) -> tuple[dict[str, Any], TrainingConfig]:
    method_params = {k: v for k, v in params.items() if not k.startswith(SHARED_PREFIX)}
    shared = {k[len(SHARED_PREFIX):]: v for k, v in params.items() if k.startswith(SHARED_PREFIX)}
    return method_params, replace(config, **shared) if shared else config


def fit(job: PairJob, params: dict[str, Any], seed: int, on_epoch=None):
    method_params, config = split_params(params, job.config)
    recipe = job.method.build(method_params, job.context(seed))
    return get_engine(job.engine).fit(job.split, recipe, config, seed=seed, device=job.device, on_epoch=on_epoch)


def describe_failure(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:1000]


# -- the study -------------------------------------------------------------------------------------
def open_study(job: PairJob, storage: optuna.storages.BaseStorage) -> optuna.Study:
    study = optuna.create_study(
        storage=storage,
        study_name=job.study_name,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=job.sampler_seed, n_startup_trials=min(10, job.budget.trials)),
        pruner=make_pruner(job.pruner, job.config.epochs),
        load_if_exists=True,
    )
    asked = {"trials": job.budget.trials, "objective": job.objective, "tune": list(job.tune)}
    stored = study.user_attrs.get("budget")
    if stored is None:
        study.set_user_attr("budget", asked)
    elif stored != asked:
        raise BenchmarkError(
            f"study '{job.study_name}' was started with {stored}; this run asks for {asked}",
            "run with the original budget to resume, or use another --storage (or suite) for a new budget",
        )
    return study


def fail_dead_trials(study: optuna.Study) -> None:
    """Mark RUNNING trials of workers that died on this host as failed (interrupted)."""
    host = socket.gethostname()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker", "")
        w_host, _, pid = worker.rpartition(":")
        if w_host == host and pid.isdigit() and not _alive(int(pid)):
            study._storage.set_trial_user_attr(t._trial_id, "failure", "interrupted: its worker process died")
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def budget_trials(study: optuna.Study, budget: int) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if t.number < budget]


def spent(study: optuna.Study, budget: Budget) -> dict[str, Any]:
    trials = budget_trials(study, budget.trials)
    count = {s: sum(t.state == s for t in trials) for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    seconds = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in trials
                  if t.datetime_complete and t.datetime_start)
    epochs = sum(int(t.user_attrs.get("epochs", 0)) for t in trials)
    return {
        "trials": len(trials),
        "complete": count[TrialState.COMPLETE],
        "pruned": count[TrialState.PRUNED],
        "failed": count[TrialState.FAIL],
        "running": sum(t.state == TrialState.RUNNING for t in trials),
        "seconds": round(seconds, 3),
        "epochs": epochs,
        "failures": sorted({t.user_attrs.get("failure", "") for t in trials if t.state == TrialState.FAIL} - {""}),
    }


def run_trials(job: PairJob, storage: optuna.storages.BaseStorage, on_trial=None) -> optuna.Study:
    """Run trials of the pair's study until its budget is used up (by this and any other worker)."""
    study = open_study(job, storage)
    fail_dead_trials(study)
    me = f"{socket.gethostname()}:{os.getpid()}"
    started = time.monotonic()
    while True:
        if len(budget_trials(study, job.budget.trials)) >= job.budget.trials:
            break
        if job.budget.timeout is not None and time.monotonic() - started > job.budget.timeout:
            break
        exhausted = False

        def objective(trial: optuna.Trial) -> float:
            nonlocal exhausted
            trial.set_user_attr("worker", me)
            if trial.number >= job.budget.trials:  # another worker took the last slot first
                exhausted = True
                trial.set_user_attr("failure", OVER_BUDGET)
                raise OverBudget(OVER_BUDGET)
            return _objective(trial, job)

        study.optimize(objective, n_trials=1, catch=(Exception,))
        if on_trial is not None:
            on_trial(study)
        if exhausted:
            break
    return study


def _objective(trial: optuna.Trial, job: PairJob) -> float:
    epochs_run = 0

    def on_epoch(epoch: int, val_proba: np.ndarray) -> None:
        nonlocal epochs_run
        epochs_run = epoch + 1
        trial.set_user_attr("epochs", epochs_run)
        metrics, _ = compute_metrics(job.split.val.y, val_proba, job.split.minority_classes)
        trial.report(metrics[job.objective], epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch + 1}")

    try:
        params = suggest_params(trial, job)
        model = fit(job, params, trial_seed(job.sampler_seed, trial.number), on_epoch)
        metrics, _ = compute_metrics(job.split.val.y, model.predict_proba(job.split.val.X), job.split.minority_classes)
    except optuna.TrialPruned:
        raise
    except KeyboardInterrupt:
        trial.set_user_attr("failure", "interrupted")
        raise
    except Exception as exc:
        trial.set_user_attr("failure", describe_failure(exc))
        raise
    trial.set_user_attr("epochs", max(epochs_run, 1))
    trial.set_user_attr("val_metrics", metrics)
    return float(metrics[job.objective])


def best_trial(study: optuna.Study, budget: Budget) -> optuna.trial.FrozenTrial | None:
    complete = [t for t in budget_trials(study, budget.trials) if t.state == TrialState.COMPLETE]
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def wait_for_trials(study: optuna.Study, budget: Budget, poll: float = 1.0, limit: float = 24 * 3600) -> None:
    """Wait until no trial within the budget is still running elsewhere (the best must be final)."""
    started = time.monotonic()
    while any(t.state == TrialState.RUNNING for t in budget_trials(study, budget.trials)):
        fail_dead_trials(study)
        if time.monotonic() - started > limit:
            raise BenchmarkError(f"trials of study '{study.study_name}' stayed running for {limit:.0f} s",
                                 "check the other workers of this run")
        time.sleep(poll)


# -- re-runs of the best configuration ------------------------------------------------------------
def rerun_seed(job: PairJob, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Train the best configuration with ``seed`` on the training split; score validation and test."""
    t0 = time.perf_counter()
    model = fit(job, params, seed)
    split = job.split
    train_counts = split.class_counts("train")
    t_pred = time.perf_counter()
    test_proba = model.predict_proba(split.test.X)
    test_metrics, per_class = compute_metrics(split.test.y, test_proba, split.minority_classes, train_counts)
    val_metrics, _ = compute_metrics(split.val.y, model.predict_proba(split.val.X), split.minority_classes,
                                     train_counts)
    timings = dict(model.timings)
    timings["predict_seconds"] = time.perf_counter() - t_pred
    timings["total_seconds"] = time.perf_counter() - t0
    artifacts = {"pr_curves": pr_curves(split.test.y, test_proba, split.minority_classes)}
    return {"metrics": test_metrics, "val_metrics": val_metrics, "per_class": per_class, "timings": timings,
            "artifacts": artifacts}
