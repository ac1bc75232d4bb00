"""The study of one pair: opened once per worker, seeded TPE, the pruner, and the trials whose worker
is gone.

The sampler is TPE seeded per trial number, so the same trial number draws the same startup
configuration on any worker and on resume, and the shared training parameters (``Suite.tune``) are
drawn first, so every method of a suite sees the same startup values of them. A trial that was
running when its worker died is failed ("interrupted") by the next worker that looks at the study: at
once for a dead process on the same host, after the heartbeat grace period for a lost machine.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from benchmark.errors import BenchmarkError
from benchmark.protocol import Budget
from benchmark.store.liveness import worker_gone
from benchmark.tuning.budget import INTERRUPTED, budget_trials
from benchmark.tuning.job import PairJob

PRUNERS = ("hyperband", "successive-halving", "median", "none")

optuna.logging.set_verbosity(optuna.logging.CRITICAL)  # trial outcomes are recorded in the store instead


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
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker")
        if worker_gone(worker):
            fail_trial(study, t, f"{INTERRUPTED}: its worker process {worker.rpartition(':')[2]} died")
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


def best_trial(study: optuna.Study, budget: Budget) -> FrozenTrial | None:
    complete = [t for t in budget_trials(study, budget.trials) if t.state == TrialState.COMPLETE]
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def trial_params(trial: FrozenTrial) -> dict[str, Any]:
    """The parameters a trial's method was built with (Optuna's suggestions plus derived values)."""
    return dict(trial.user_attrs.get("params") or trial.params)


def wait_for_trials(study: optuna.Study, budget: Budget, poll: float = 1.0, limit: float = 24 * 3600) -> None:
    """Wait until no trial within the budget is still running elsewhere (the best must be final)."""
    started = time.monotonic()
    while any(t.state == TrialState.RUNNING for t in budget_trials(study, budget.trials)):
        fail_interrupted_trials(study)
        if time.monotonic() - started > limit:
            raise BenchmarkError(f"trials of study '{study.study_name}' stayed running for {limit:.0f} s",
                                 "check the other workers of this run")
        time.sleep(poll)
