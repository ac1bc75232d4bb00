"""Tuning: one Optuna study per (suite, dataset, method) under an equal budget; best-config re-runs.

The budget is exact even when several processes on several machines share a study: a trial whose
number is at or beyond the budget is refused (recorded failed, "over budget") before any work, so
the trials that count are exactly numbers 0..budget-1 whoever ran them. A trial that was running
when its worker died is failed ("interrupted") by the next worker that looks at the study (at once
for a dead process on the same host, after the heartbeat grace period for a lost machine) and
counts once. Optional caps on wall-clock and device seconds stop a pair's tuning early, at an epoch
boundary.

Trials report the validation objective after every epoch (step = epochs done) so the pruner can stop
hopeless ones; classical trials have one step and no pruner. The sampler is TPE seeded per trial
number, so the same trial number draws the same startup configuration on any worker and on resume,
and the shared training parameters (``Suite.tune``) are drawn first, so every method of a suite sees
the same startup values of them. The test split is only touched by :func:`rerun_seed`, after
tuning is over.
"""

from __future__ import annotations

import gc
import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from benchmark.datasets.base import Split
from benchmark.errors import BenchmarkError
from benchmark.methods.base import Method, MethodContext
from benchmark.metrics import OBJECTIVES, compute_metrics, pr_curves
from benchmark.protocol import Budget, trial_seed
from benchmark.store import worker_id
from benchmark.suites import SHARED_RANGES
from benchmark.training import get_engine
from benchmark.training.base import TrainingConfig
from benchmark.tuning_budget import (
    INTERRUPTED,
    OVER_BUDGET,
    budget_trials,
    spent,
    time_left,
    within_budget,
)

SHARED_PREFIX = "train."
PRUNERS = ("hyperband", "successive-halving", "median", "none")

optuna.logging.set_verbosity(optuna.logging.CRITICAL)  # trial outcomes are recorded in the store instead


class OverBudget(Exception):
    """Raised inside a trial whose number lies beyond the budget: it is recorded failed, and not counted."""


class TimeCapReached(optuna.TrialPruned):
    """A trial stopped at an epoch boundary because the pair's time cap was spent (recorded pruned)."""


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
    stack: int = 1  # trials trained at once as one stacked model (deep engine; see benchmark.trial_batches)
    commit: str | None = None  # the code's commit when the run started (provenance of its rows)

    @property
    def study_name(self) -> str:
        return f"{self.suite}::{self.dataset}::{self.method.name}"

    def context(self, seed: int) -> MethodContext:
        return MethodContext.from_split(self.split, self.engine, epochs=self.config.epochs, seed=seed)

    def protocol(self) -> dict[str, Any]:
        """What must not change while a study resumes: budget, objective, pruner, shared tuning, training."""
        config = {k: v for k, v in asdict(self.config).items() if k != "extra"}
        record = {**self.budget.record(), "objective": self.objective, "pruner": self.pruner, "tune": list(self.tune),
                  "sampler_seed": self.sampler_seed, "engine": self.engine, "config": config}
        return json.loads(json.dumps(record, default=str))  # as stored: tuples become lists


def check_objective(name: str) -> None:
    if name not in OBJECTIVES:
        raise BenchmarkError(f"objective {name!r} is unknown", f"use one of {', '.join(OBJECTIVES)}")


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


class TrialSeededTPE(optuna.samplers.BaseSampler):
    """TPE whose random draws depend only on (seed, trial number).

    One seeded TPE object per process would give every worker the same random stream (concurrent
    workers would propose identical startup configurations) and a resumed run a different one. Here
    trial n always uses ``TPESampler(seed=seed * 1_000_003 + n)`` over the trials finished so far.
    """

    def __init__(self, seed: int, n_startup_trials: int):
        self.seed, self.n_startup_trials = seed, n_startup_trials
        self._cached: tuple[int, optuna.samplers.TPESampler] | None = None

    def _for(self, trial: FrozenTrial) -> optuna.samplers.TPESampler:
        if self._cached is None or self._cached[0] != trial.number:
            with warnings.catch_warnings():  # constant_liar is "experimental" in Optuna
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                tpe = optuna.samplers.TPESampler(seed=self.seed * 1_000_003 + trial.number,
                                                 n_startup_trials=self.n_startup_trials, constant_liar=True)
            self._cached = (trial.number, tpe)
        return self._cached[1]

    def infer_relative_search_space(self, study, trial):
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial):
        self._for(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values):
        self._for(trial).after_trial(study, trial, state, values)


# -- parameters --------------------------------------------------------------------------------------
def suggest_params(trial: optuna.Trial, job: PairJob) -> dict[str, Any]:
    """The shared training parameters the suite tunes for all methods, then the method's own space.

    The shared ones (learning rate, weight decay) are the deep engine's; a classical model has none."""
    params: dict[str, Any] = {}
    for name in job.tune if job.engine == "deep" else ():  # first: every method draws the same startup values
        low, high, log = SHARED_RANGES[name]
        params[SHARED_PREFIX + name] = trial.suggest_float(SHARED_PREFIX + name, low, high, log=log)
    own = job.method.search_space(trial, job.context(seed=0))
    return {**check_params(job.method.name, own if own is not None else {}), **params}


def check_params(method: str, params: Any) -> dict[str, Any]:
    """A search space returns a dict of names to JSON values (finite numbers, strings, lists of them)."""
    if not isinstance(params, dict):
        raise BenchmarkError(f"the search space of method '{method}' returned {type(params).__name__} {params!r}",
                             "return a dict of parameter name -> value")
    for name, value in params.items():
        if not isinstance(name, str) or name.startswith(SHARED_PREFIX):
            raise BenchmarkError(f"the search space of method '{method}' returned the parameter name {name!r}",
                                 f"use string names not starting with {SHARED_PREFIX!r} (reserved for Suite.tune)")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise BenchmarkError(
                f"the search space of method '{method}' returned {name}={value!r}, which cannot be stored",
                "return finite numbers, strings, booleans, None or lists of them",
            ) from None
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


def release_device_memory(device: str) -> None:
    """After a failed trial, return its cached GPU memory so the next trial (or a neighbour) can use it."""
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


# -- the study -----------------------------------------------------------------------------------------
def open_study(job: PairJob, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """Create or load the pair's study; a study started under another protocol is refused."""
    study = optuna.create_study(
        storage=storage,
        study_name=job.study_name,
        direction="maximize",
        sampler=TrialSeededTPE(job.sampler_seed, n_startup_trials=min(10, job.budget.trials)),
        pruner=make_pruner(job.pruner, job.config.epochs, job.engine),
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
    return study


def differences(stored: dict[str, Any], asked: dict[str, Any]) -> str:
    """'trials 2 (this run asks for 3), ...' over the keys whose values differ."""
    keys = sorted(set(stored) | set(asked))
    parts = [f"{k} {stored.get(k)!r} (this run asks for {asked.get(k)!r})" for k in keys if stored.get(k) != asked.get(k)]
    return ", ".join(parts)


def fail_interrupted_trials(study: optuna.Study) -> None:
    """Fail the trials whose worker is gone: a dead process on this host at once, a silent worker on
    another machine once its heartbeat is older than the storage's grace period."""
    me = worker_id()
    host = me.rpartition(":")[0]
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        w_host, _, pid = t.user_attrs.get("worker", "").rpartition(":")
        if w_host == host and pid.isdigit() and not pid_alive(int(pid)):
            fail_trial(study, t, f"{INTERRUPTED}: its worker process {pid} died")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # no-op without heartbeats


def fail_trial(study: optuna.Study, trial: FrozenTrial, reason: str) -> None:
    """Mark a running trial failed with ``reason`` (another worker may have done it first: fine)."""
    storage = study._storage
    try:
        storage.set_trial_user_attr(trial._trial_id, "failure", reason)
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_trials(job: PairJob, storage: optuna.storages.BaseStorage, on_trial=None) -> optuna.Study:
    """Run trials of the pair's study until its budget is used up (by this and any other worker)."""
    if job.stack > 1 and job.engine == "deep":
        from benchmark.trial_batches import run_trial_batches

        return run_trial_batches(job, storage, job.stack, on_trial)
    study = open_study(job, storage)
    me = worker_id()
    while True:
        fail_interrupted_trials(study)
        used = spent(study, job.budget)
        if used["stopped_by"] is not None:
            break
        refused = False

        def objective(trial: optuna.Trial, used: dict[str, Any] = used) -> float:
            nonlocal refused
            trial.set_user_attr("worker", me)
            if not within_budget(study, trial.number, job.budget.trials):  # another worker took the last slot first
                refused = True
                trial.set_user_attr("failure", OVER_BUDGET)
                raise OverBudget(OVER_BUDGET)
            return _objective(trial, job, time_left(used, job.budget))

        try:
            study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=False)
        except Exception as exc:
            # Ctrl-C landing in Optuna's own bookkeeping after the objective surfaces as another error
            # (an UnboundLocalError in Optuna 5); it is still an interruption, not a bug of the run.
            if isinstance(exc.__context__, KeyboardInterrupt):
                raise KeyboardInterrupt("interrupted while Optuna recorded a trial") from exc
            raise
        if on_trial is not None:
            on_trial(study)
        if refused:
            break
    return study


def _objective(trial: optuna.Trial, job: PairJob, seconds_left: float | None) -> float:
    started = time.monotonic()
    epochs_run = 0

    def on_epoch(epoch: int, val_proba: np.ndarray) -> None:
        nonlocal epochs_run
        epochs_run = epoch + 1
        trial.set_user_attr("epochs", epochs_run)
        metrics, _ = compute_metrics(job.split.val.y, val_proba, job.split.minority_classes)
        value = metrics[job.objective]
        if math.isfinite(value):
            trial.report(value, epochs_run)
        if seconds_left is not None and time.monotonic() - started >= seconds_left:
            raise TimeCapReached(f"the pair's time cap was reached after epoch {epochs_run}")
        # After the last epoch the trial is as good as complete: pruning it would only discard its value.
        if epochs_run < job.config.epochs and trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epochs_run}")

    try:
        params = suggest_params(trial, job)
        trial.set_user_attr("params", params)  # all the method was built with, derived values included
        model = fit(job, params, trial_seed(job.sampler_seed, trial.number), on_epoch)
        metrics, _ = compute_metrics(job.split.val.y, model.predict_proba(job.split.val.X), job.split.minority_classes)
        value = float(metrics[job.objective])
        if not math.isfinite(value):
            raise BenchmarkError(f"the objective {job.objective} is {value} on the validation split",
                                 "choose an objective defined on this dataset's validation split")
    except optuna.TrialPruned as exc:
        trial.set_user_attr("pruned", str(exc))
        raise
    except KeyboardInterrupt:
        trial.set_user_attr("failure", f"{INTERRUPTED}: Ctrl-C")
        raise
    except Exception as exc:
        trial.set_user_attr("failure", describe_failure(exc))
        release_device_memory(job.device)
        raise
    trial.set_user_attr("epochs", max(epochs_run, 1))
    trial.set_user_attr("val_metrics", metrics)
    return value


def trial_params(trial: FrozenTrial) -> dict[str, Any]:
    """The parameters a trial's method was built with (Optuna's suggestions plus derived values)."""
    return dict(trial.user_attrs.get("params") or trial.params)


def best_trial(study: optuna.Study, budget: Budget) -> FrozenTrial | None:
    complete = [t for t in budget_trials(study, budget.trials) if t.state == TrialState.COMPLETE]
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def wait_for_trials(study: optuna.Study, budget: Budget, poll: float = 1.0, limit: float = 24 * 3600) -> None:
    """Wait until no trial within the budget is still running elsewhere (the best must be final)."""
    started = time.monotonic()
    while any(t.state == TrialState.RUNNING for t in budget_trials(study, budget.trials)):
        fail_interrupted_trials(study)
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
    adjust = getattr(model, "adjust", None)
    if callable(getattr(adjust, "fitted", None)):  # what a post-hoc step chose on validation (tau, offsets)
        artifacts["fitted"] = adjust.fitted()
    return {"metrics": test_metrics, "val_metrics": val_metrics, "per_class": per_class, "timings": timings,
            "artifacts": artifacts}
