"""Running a suite: pairs (dataset x method) -> tuning -> seed re-runs -> store, on local workers.

Every worker, whether one of ``--workers N`` local processes or a process on another machine
pointed at the same ``--storage``, runs the same loop over the same pairs. They cooperate through
the database alone: Optuna shares the trials of a study, the exact-budget rule of
:mod:`benchmark.tuning` stops them at the budget together, and seed re-runs are claimed row by row
(:meth:`benchmark.store.Store.claim_seed`). A killed worker loses only its trial in flight.
"""

from __future__ import annotations

import multiprocessing
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import optuna

from benchmark.datasets import dataset_registry
from benchmark.errors import BenchmarkError, DataUnavailableError
from benchmark.methods import method_registry
from benchmark.protocol import Budget
from benchmark.provenance import provenance
from benchmark.store import COMPLETE, DATA_UNAVAILABLE, FAILED, NOT_APPLICABLE, OK, RUNNING, Store
from benchmark.suites import Suite, suite_registry
from benchmark.training.base import TrainingConfig, resolve_device
from benchmark.tuning import (
    PairJob,
    best_trial,
    check_objective,
    describe_failure,
    make_pruner,
    rerun_seed,
    run_trials,
    spent,
    wait_for_trials,
)

FINAL_PAIR_STATES = (COMPLETE, NOT_APPLICABLE, FAILED)


@dataclass
class RunOptions:
    """The options of ``python -m benchmark run`` (picklable: workers receive a copy)."""

    suite: str
    methods: list[str] | None = None
    datasets: list[str] | None = None
    trials: int | None = None
    seeds: int | None = None
    timeout: float | None = None
    workers: int = 1
    device: str = "auto"
    storage: str | None = None
    data_root: str | None = None
    objective: str | None = None
    pruner: str | None = None
    heartbeat: int = 10

    def resolve(self) -> tuple[Suite, Budget, list[str], list[str]]:
        """Check every option before any work; errors name the bad value and the fix."""
        suite = suite_registry.get(self.suite)
        if self.workers < 1:
            raise BenchmarkError(f"--workers {self.workers} is invalid", "use 1 or more workers")
        budget = Budget(
            trials=suite.budget.trials if self.trials is None else self.trials,
            seeds=suite.budget.seeds if self.seeds is None else self.seeds,
            timeout=self.timeout if self.timeout is not None else suite.budget.timeout,
        )
        check_objective(self.objective or suite.objective)
        make_pruner(self.pruner or suite.pruner, 1)
        datasets = list(self.datasets or suite.datasets)
        dataset_registry.resolve(datasets)
        methods = list(self.methods) if self.methods else (list(suite.methods) if suite.methods else method_registry.names())
        method_registry.resolve(methods)
        return suite, budget, datasets, methods


@dataclass
class Progress:
    """Callbacks a front end (the CLI's progress bars) may set; all optional."""

    on_start: Callable[[int], None] = lambda total: None
    on_pair: Callable[[str, str, str], None] = lambda dataset, method, status: None
    on_trial: Callable[[str, str, dict[str, Any], float | None], None] = lambda d, m, spent, best: None
    on_seed: Callable[[str, str, int, str], None] = lambda d, m, seed, status: None


@dataclass
class RunSummary:
    pairs: int = 0
    skipped: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def optuna_storage(url: str, heartbeat: int) -> optuna.storages.RDBStorage:
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna, and what makes resuming safe
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat, grace_period=3 * heartbeat, **kwargs)


def pair_budget(budget: Budget, objective: str, tune: tuple[str, ...]) -> dict[str, Any]:
    return {"trials": budget.trials, "seeds": budget.seeds, "timeout": budget.timeout, "objective": objective,
            "tune": list(tune)}


def run_suite(options: RunOptions, progress: Progress | None = None) -> RunSummary:
    """Run (or resume) a suite with ``options.workers`` local worker processes; returns a summary."""
    options.resolve()
    device = resolve_device(options.device)
    Store(options.storage)  # fail on an unreachable store before starting workers
    extra = []
    if options.workers > 1:
        ctx = multiprocessing.get_context("spawn")
        extra = [ctx.Process(target=_worker_main, args=(options,), daemon=False) for _ in range(options.workers - 1)]
        for p in extra:
            p.start()
    try:
        summary = run_worker(options, progress, device=device)
    finally:
        for p in extra:
            p.join()
    return summary


def _worker_main(options: RunOptions) -> None:
    try:
        run_worker(options, None)
    except KeyboardInterrupt:
        pass


def run_worker(options: RunOptions, progress: Progress | None = None, device: str | None = None) -> RunSummary:
    """One worker's pass over every pair of the run."""
    started = time.monotonic()
    progress = progress or Progress()
    suite, budget, datasets, methods = options.resolve()
    device = device or resolve_device(options.device)
    objective = options.objective or suite.objective
    store = Store(options.storage)
    storage = optuna_storage(store.url, options.heartbeat)
    asked = pair_budget(budget, objective, suite.tune)
    summary = RunSummary()
    progress.on_start(len(datasets) * len(methods))

    for dataset_name in datasets:
        entry = dataset_registry.get(dataset_name)
        todo = []
        for method_name in methods:
            summary.pairs += 1
            row = store.get_pair(suite.name, dataset_name, method_name)
            if row is not None and row.budget and row.budget != asked:
                raise BenchmarkError(
                    f"pair {dataset_name} x {method_name} of suite '{suite.name}' is stored with budget "
                    f"{row.budget}; this run asks for {asked}",
                    "run with the original --trials/--seeds/--objective to resume, or use another --storage",
                )
            if row is not None and row.status in FINAL_PAIR_STATES:
                summary.skipped += 1
                progress.on_pair(dataset_name, method_name, f"skipped ({row.status})")
                continue
            todo.append(method_name)
        if not todo:
            continue
        try:
            split = entry.load(options.data_root, suite.split_seed)
        except DataUnavailableError as exc:
            for method_name in todo:
                store.update_pair(suite.name, dataset_name, method_name, status=DATA_UNAVAILABLE, reason=str(exc),
                                  budget=asked)
                progress.on_pair(dataset_name, method_name, DATA_UNAVAILABLE)
                _count(summary, DATA_UNAVAILABLE)
            continue
        base_config = suite.training[split.modality]
        for method_name in todo:
            method = method_registry.get(method_name)
            engine = suite.engine_for(split.modality, method.engines)
            config = model_config(base_config, entry.default_model, engine)
            reason = method.not_applicable_reason(split, engine)
            if reason:
                store.update_pair(suite.name, dataset_name, method_name, status=NOT_APPLICABLE, reason=reason,
                                  budget=asked, engine=engine)
                progress.on_pair(dataset_name, method_name, NOT_APPLICABLE)
                _count(summary, NOT_APPLICABLE)
                continue
            job = PairJob(suite=suite.name, dataset=dataset_name, method=method, split=split, engine=engine,
                          config=config, budget=budget, objective=objective, tune=suite.tune, device=device,
                          pruner=options.pruner or suite.pruner, sampler_seed=suite.split_seed)
            status = run_pair(job, store, storage, asked, progress)
            progress.on_pair(dataset_name, method_name, status)
            _count(summary, status)
    summary.seconds = time.monotonic() - started
    return summary


def model_config(config: TrainingConfig, default_model: dict[str, str], engine: str) -> TrainingConfig:
    """The suite's settings, with the dataset's default backbone where the suite names none."""
    if engine == "deep" and config.model is None and default_model.get("deep"):
        return replace(config, model=default_model["deep"])
    return config


def _count(summary: RunSummary, status: str) -> None:
    summary.statuses[status] = summary.statuses.get(status, 0) + 1


def run_pair(job: PairJob, store: Store, storage: optuna.storages.BaseStorage, asked: dict[str, Any],
             progress: Progress) -> str:
    """Tune one pair within its budget, then re-run the best configuration for every seed."""
    suite, dataset, method = job.suite, job.dataset, job.method.name
    store.update_pair(suite, dataset, method, status="tuning", engine=job.engine, study_name=job.study_name,
                      budget=asked, info={"split_fingerprint": job.split.fingerprint(),
                                          "split_seed": job.split.info.get("split_seed")})

    def on_trial(study: optuna.Study) -> None:
        best = best_trial(study, job.budget)
        progress.on_trial(dataset, method, spent(study, job.budget), best.value if best else None)

    study = run_trials(job, storage, on_trial)
    wait_for_trials(study, job.budget)
    used = spent(study, job.budget)
    best = best_trial(study, job.budget)
    if best is None:
        reason = "no tuning trial completed: " + ("; ".join(used["failures"]) or "all were pruned")
        store.update_pair(suite, dataset, method, status=FAILED, reason=reason, spent=used)
        return FAILED
    store.update_pair(suite, dataset, method, status="re-running", spent=used, best_params=best.params,
                      best_value=best.value)

    prov = provenance(job.device)
    prov.update(budget=asked, split_seed=job.split.info.get("split_seed"), split_fingerprint=job.split.fingerprint(),
                engine=job.engine, config={k: v for k, v in asdict(job.config).items() if k != "extra"})
    for seed in range(job.budget.seeds):
        if not store.claim_seed(suite, dataset, method, seed):
            continue
        try:
            out = rerun_seed(job, best.params, seed)
        except KeyboardInterrupt:
            store.release_seed(suite, dataset, method, seed)
            raise
        except Exception as exc:
            store.finish_seed(suite, dataset, method, seed, status=FAILED, reason=describe_failure(exc),
                              params=best.params, provenance=prov)
            progress.on_seed(dataset, method, seed, FAILED)
            continue
        store.finish_seed(suite, dataset, method, seed, status=OK, reason=None, params=best.params, provenance=prov,
                          **out)
        progress.on_seed(dataset, method, seed, OK)

    rows = [r for r in store.results(suite, include_running=True) if r.dataset == dataset and r.method == method]
    finished = [r for r in rows if r.status != RUNNING and r.seed < job.budget.seeds]
    if len(finished) == job.budget.seeds:
        status = COMPLETE if any(r.status == OK for r in finished) else FAILED
        reason = None if status == COMPLETE else "every seed re-run failed: " + "; ".join(
            sorted({r.reason or "" for r in finished}))
        store.update_pair(suite, dataset, method, status=status, reason=reason)
        return status
    return "re-running elsewhere"
