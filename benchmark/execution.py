"""Running a suite: pairs (dataset x method) -> tuning -> seed re-runs -> store.

Every worker, whether one of ``--workers N`` local processes or a process on another machine
pointed at the same ``--storage``, runs the same loop over the same pairs. They cooperate through
the database alone: Optuna shares the trials of a study, the exact-budget rule of
:mod:`benchmark.tuning` stops them at the budget together, and seed re-runs are claimed row by row
(:meth:`benchmark.store.Store.claim_seed`, refreshed by a heartbeat while they run). A killed worker
loses only its trial in flight, which is recorded failed. ``--executor ray`` runs the same steps as
Ray tasks (:mod:`benchmark.ray_executor`); ``--workers N`` adds local processes
(:mod:`benchmark.local_workers`), replaced when they die.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import optuna

from benchmark.datasets import dataset_registry
from benchmark.errors import BenchmarkError, DataUnavailableError, ResourceUnavailableError
from benchmark.heartbeat import beating
from benchmark.local_workers import WorkerPool, cpu_share, share_device, sigterm_as_interrupt
from benchmark.methods import method_registry
from benchmark.protocol import Budget
from benchmark.provenance import git_commit, provenance
from benchmark.store import (
    COMPLETE,
    DATA_UNAVAILABLE,
    FAILED,
    NOT_APPLICABLE,
    OK,
    RESOURCE_UNAVAILABLE,
    RUNNING,
    Store,
    optuna_storage,
)
from benchmark.suites import Suite, suite_registry
from benchmark.training.base import TrainingConfig, resolve_device
from benchmark.tuning import (
    PairJob,
    best_trial,
    check_objective,
    describe_failure,
    make_pruner,
    release_device_memory,
    rerun_seed,
    run_trials,
    spent,
    trial_params,
    wait_for_trials,
)

FINAL_PAIR_STATES = (COMPLETE, NOT_APPLICABLE, FAILED)
EXECUTORS = ("local", "ray")


@dataclass
class RunOptions:
    """The options of ``python -m benchmark run`` (picklable: workers receive a copy).

    ``suite`` is a registered name or a :class:`Suite` object (handy for suites built in code: the
    object travels to the worker processes, which need not have it registered).
    """

    suite: str | Suite
    methods: list[str] | None = None
    datasets: list[str] | None = None
    trials: int | None = None
    seeds: int | None = None
    timeout: float | None = None
    device_seconds: float | None = None
    workers: int = 1
    device: str = "auto"
    storage: str | None = None
    data_root: str | None = None
    objective: str | None = None
    pruner: str | None = None
    heartbeat: int = 10
    executor: str = "local"
    ray_address: str | None = None
    gpu_fraction: float | None = None  # device share of one trial; default 1/(workers per GPU)
    stack_trials: int = 1  # deep-engine trials trained at once as one stacked model

    def resolve(self) -> RunPlan:
        """Check every option before any work; errors name the bad value and the fix."""
        suite = self.suite if isinstance(self.suite, Suite) else suite_registry.get(self.suite)
        if self.workers < 1:
            raise BenchmarkError(f"--workers {self.workers} is invalid", "use 1 or more workers")
        if self.executor not in EXECUTORS:
            raise BenchmarkError(f"executor {self.executor!r} is unknown", f"use one of {', '.join(EXECUTORS)}")
        if self.ray_address is not None and self.executor != "ray":
            raise BenchmarkError(f"--ray-address {self.ray_address} was given with --executor {self.executor}",
                                 "add --executor ray, or drop --ray-address")
        if self.stack_trials < 1:
            raise BenchmarkError(f"--stack-trials {self.stack_trials} is invalid",
                                 "use 1 (one trial at a time) or more trials per stacked model")
        if self.heartbeat < 1:
            raise BenchmarkError(f"heartbeat {self.heartbeat} is invalid", "use a heartbeat of 1 second or more")
        fraction = self.gpu_fraction
        if fraction is not None and not (isinstance(fraction, int | float) and 0 < fraction <= 1):
            raise BenchmarkError(f"--gpu-fraction {fraction} is invalid",
                                 "give the share of one GPU a trial may use, in (0, 1]")
        budget = suite.budget.overridden(trials=self.trials, seeds=self.seeds, timeout=self.timeout,
                                       device_seconds=self.device_seconds)
        objective = self.objective or suite.objective
        check_objective(objective)
        pruner = self.pruner or suite.pruner
        make_pruner(pruner, 1)
        datasets = list(self.datasets or suite.datasets)
        dataset_registry.resolve(datasets)
        methods = list(self.methods) if self.methods else (list(suite.methods) if suite.methods else method_registry.names())
        method_registry.resolve(methods)
        return RunPlan(options=self, suite=suite, budget=budget, datasets=datasets, methods=methods,
                       objective=objective, pruner=pruner, commit=git_commit())


@dataclass
class RunPlan:
    """Resolved options: what every worker of a run does alike."""

    options: RunOptions
    suite: Suite
    budget: Budget
    datasets: list[str]
    methods: list[str]
    objective: str
    pruner: str
    # The code's commit when the run started, stored with every row: read once here, not when a row
    # is written (the checkout may move on during a long run) and not on Ray nodes (they may have none).
    commit: str | None = None

    def pair_budget(self) -> dict[str, Any]:
        """The budget stored with every pair; a resumed run must ask for the same one."""
        return {**self.budget.record(), "objective": self.objective, "pruner": self.pruner,
                "tune": list(self.suite.tune)}

    @property
    def total_pairs(self) -> int:
        return len(self.datasets) * len(self.methods)


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
    worker_deaths: list[str] = field(default_factory=list)  # local workers that died and were replaced


class RunTracker:
    """Pairs done/total and an ETA from the work left: each pair is ``trials + seeds`` units.

    Pairs found finished at the start do not count towards the rate, so a resumed run's estimate
    reflects the speed of the work actually being done.
    """

    def __init__(self, budget: Budget, clock: Callable[[], float] = time.monotonic):
        self.per_pair = budget.trials + budget.seeds
        self.trials = budget.trials
        self.clock = clock
        self.started = clock()
        self.total = 0
        self.pairs_done = 0
        self.units: dict[tuple[str, str], float] = {}
        self.spent: dict[tuple[str, str], dict[str, Any]] = {}  # the last budget spent seen per pair
        self.resumed_units = 0.0  # work that was done before this run started

    def start(self, total: int) -> None:
        self.total = total

    def pair(self, dataset: str, method: str, status: str) -> None:
        self.pairs_done += 1
        if status.startswith("skipped") or status in (NOT_APPLICABLE, DATA_UNAVAILABLE):
            self.resumed_units += self.per_pair - self.units.get((dataset, method), 0.0)
        self.units[(dataset, method)] = self.per_pair

    def trial(self, dataset: str, method: str, used: dict[str, Any]) -> None:
        self.spent[(dataset, method)] = used
        done = used["trials"] - used.get("running", 0)
        if used.get("stopped_by") not in (None, "trials"):  # a time cap ended tuning early
            done = self.trials
        self.units[(dataset, method)] = max(self.units.get((dataset, method), 0.0), float(done))

    def seed(self, dataset: str, method: str) -> None:
        key = (dataset, method)
        self.units[key] = min(self.per_pair, max(self.units.get(key, 0.0), float(self.trials)) + 1)

    def eta_seconds(self) -> float | None:
        done = sum(self.units.values())
        worked = done - self.resumed_units
        elapsed = self.clock() - self.started
        if worked <= 0 or elapsed <= 0:
            return None
        return max(0.0, self.total * self.per_pair - done) * elapsed / worked


# -- the local executor ------------------------------------------------------------------------------
def run_suite(options: RunOptions, progress: Progress | None = None) -> RunSummary:
    """Run (or resume) a suite with the chosen executor; returns a summary of the pairs' statuses."""
    plan = options.resolve()
    # Ray tasks pick their device on the cluster's nodes; the driver may have no GPU at all.
    device = resolve_device(options.device) if options.executor == "local" else None
    store = Store(options.storage)  # fail on an unreachable store or a foreign schema before any work
    optuna_storage(store.url, options.heartbeat)
    plan.options = replace(options, storage=store.url)
    started = time.monotonic()
    before = final_pairs(plan, store)
    deaths: list[str] = []
    with sigterm_as_interrupt():
        if options.executor == "ray":
            from benchmark.ray_executor import run_on_ray

            run_on_ray(plan, progress or Progress())
        elif options.workers == 1:
            run_worker(plan, progress, device=device)
        else:
            with WorkerPool(plan, device) as pool:
                run_worker(plan, progress, device=pool.device_of(0), gpu_fraction=pool.gpu_fraction)
                pool.wait()
            deaths = pool.deaths
    summary = summarise(plan, store, before, time.monotonic() - started)
    summary.worker_deaths = deaths
    return summary


def final_pairs(plan: RunPlan, store: Store) -> set[tuple[str, str]]:
    return {(p.dataset, p.method) for p in store.pairs(plan.suite.name)
            if p.status in FINAL_PAIR_STATES and p.dataset in plan.datasets and p.method in plan.methods}


def summarise(plan: RunPlan, store: Store, before: set[tuple[str, str]], seconds: float) -> RunSummary:
    """Statuses of the pairs this run worked on, read from the store (whichever worker did the work)."""
    summary = RunSummary(pairs=plan.total_pairs, skipped=len(before), seconds=seconds)
    rows = {(p.dataset, p.method): p.status for p in store.pairs(plan.suite.name)}
    for d in plan.datasets:
        for m in plan.methods:
            if (d, m) not in before:
                status = rows.get((d, m), "not started")
                summary.statuses[status] = summary.statuses.get(status, 0) + 1
    return summary


# -- one worker's loop -----------------------------------------------------------------------------
def run_worker(plan: RunPlan, progress: Progress | None = None, device: str | None = None,
               gpu_fraction: float | None = None) -> None:
    """One worker's pass over every pair of the run."""
    progress = progress or Progress()
    options = plan.options
    device = device or resolve_device(options.device)
    share_device(device, gpu_fraction)
    store = Store(options.storage, stale_after=3 * options.heartbeat)
    storage = optuna_storage(store.url, options.heartbeat)
    progress.on_start(plan.total_pairs)
    with cpu_share(options.workers):
        for dataset_name in plan.datasets:
            for job in prepare_dataset(plan, store, dataset_name, device, progress):
                status = run_pair(job, store, storage, plan, progress)
                progress.on_pair(job.dataset, job.method.name, status)


def prepare_dataset(plan: RunPlan, store: Store, dataset_name: str, device: str,
                    progress: Progress) -> list[PairJob]:
    """The jobs of one dataset's pairs that still need work; pairs found final, not applicable or
    without data are recorded (and reported) here."""
    asked = plan.pair_budget()
    suite = plan.suite
    todo = []
    for method_name in plan.methods:
        row = store.get_pair(suite.name, dataset_name, method_name)
        if row is not None and row.budget and row.budget != asked:
            raise BenchmarkError(
                f"pair {dataset_name} x {method_name} of suite '{suite.name}' is stored with budget "
                f"{row.budget}; this run asks for {asked}",
                "run with the original --trials/--seeds/--timeout/--objective/--pruner to resume, "
                "or use another --storage",
            )
        if row is not None and row.status in FINAL_PAIR_STATES:
            progress.on_pair(dataset_name, method_name, f"skipped ({row.status})")
            continue
        todo.append(method_name)
    if not todo:
        return []
    entry = dataset_registry.get(dataset_name)
    try:
        split = entry.load(plan.options.data_root, suite.split_seed)
    except BenchmarkError as exc:
        # Absent files may appear later (retried next run); corrupt or invalid ones fail the pairs.
        status = DATA_UNAVAILABLE if isinstance(exc, DataUnavailableError) else FAILED
        for method_name in todo:
            store.update_pair(suite.name, dataset_name, method_name, status=status, reason=str(exc), budget=asked)
            progress.on_pair(dataset_name, method_name, status)
        return []
    base_config = suite.training_for(dataset_name, split.modality)
    jobs = []
    for method_name in todo:
        method = method_registry.get(method_name)
        engine = suite.engine_for(split.modality, method.engines)
        config = model_config(base_config, entry.default_model, engine)
        try:
            reason, status = method.not_applicable_reason(split, engine, config), NOT_APPLICABLE
        except ResourceUnavailableError as exc:
            reason, status = str(exc), RESOURCE_UNAVAILABLE
        if reason:
            store.update_pair(suite.name, dataset_name, method_name, status=status, reason=reason,
                              budget=asked, engine=engine)
            progress.on_pair(dataset_name, method_name, status)
            continue
        jobs.append(PairJob(suite=suite.name, dataset=dataset_name, method=method, split=split, engine=engine,
                            config=config, budget=plan.budget,
                            objective=plan.objective, tune=suite.tune, device=device, pruner=plan.pruner,
                            sampler_seed=suite.split_seed, stack=plan.options.stack_trials, commit=plan.commit))
    return jobs


def model_config(config: TrainingConfig, default_model: dict[str, str], engine: str) -> TrainingConfig:
    """The suite's settings, with the dataset's default backbone where the suite names none."""
    if engine == "deep" and config.model is None and default_model.get("deep"):
        return replace(config, model=default_model["deep"])
    return config


def run_pair(job: PairJob, store: Store, storage: optuna.storages.BaseStorage, plan: RunPlan,
             progress: Progress) -> str:
    """Tune one pair within its budget, then re-run the best configuration for every seed."""
    start_pair(job, store, plan)

    def on_trial(study: optuna.Study) -> None:
        best = best_trial(study, job.budget)
        progress.on_trial(job.dataset, job.method.name, spent(study, job.budget), best.value if best else None)

    study = run_trials(job, storage, on_trial)
    best = finish_tuning(job, store, study)
    on_trial(study)  # the final count, with the trials other workers ran
    if best is None:
        return FAILED
    rerun_seeds(job, store, best, range(job.budget.seeds), plan.options.heartbeat, progress)
    return finish_pair(job, store)


def start_pair(job: PairJob, store: Store, plan: RunPlan) -> None:
    store.update_pair(job.suite, job.dataset, job.method.name, status="tuning", engine=job.engine,
                      study_name=job.study_name, budget=plan.pair_budget(),
                      info=split_record(job.split))


def split_record(split: Any) -> dict[str, Any]:
    """What a pair stores about its split, so that a report built from the store alone has the
    dataset card (class counts per part, names, imbalance ratio, minority classes) and can tell
    results of different splits apart (seed and fingerprint)."""
    summary = split.summary()
    return {"split_fingerprint": summary["fingerprint"], "split_seed": split.info.get("split_seed"),
            **{key: summary[key] for key in ("class_names", "class_counts", "imbalance_ratio", "minority_classes")}}


def finish_tuning(job: PairJob, store: Store, study: optuna.Study) -> dict[str, Any] | None:
    """Once no trial of the budget runs anywhere: store the budget spent and the best parameters;
    returns them, or None (the pair failed: no trial completed)."""
    wait_for_trials(study, job.budget)
    used = spent(study, job.budget)
    best = best_trial(study, job.budget)
    suite, dataset, method = job.suite, job.dataset, job.method.name
    if best is None:
        reason = "no tuning trial completed: " + ("; ".join(used["failures"]) or "all were pruned")
        store.update_pair(suite, dataset, method, status=FAILED, reason=reason, spent=used)
        return None
    params = trial_params(best)
    store.update_pair(suite, dataset, method, status="re-running", spent=used, best_params=params,
                      best_value=best.value)
    return params


def rerun_seeds(job: PairJob, store: Store, params: dict[str, Any], seeds, heartbeat: int,
                progress: Progress) -> None:
    """Re-train the best configuration for each seed this worker can claim, and store the test scores."""
    suite, dataset, method = job.suite, job.dataset, job.method.name
    prov = provenance(job.device, commit=job.commit)
    prov.update(budget=job.budget.record(), split_seed=job.split.info.get("split_seed"),
                split_fingerprint=job.split.fingerprint(), engine=job.engine,
                config={k: v for k, v in asdict(job.config).items() if k != "extra"})
    for seed in seeds:
        if not store.claim_seed(suite, dataset, method, seed):
            continue
        try:
            with claim_heartbeat(store, (suite, dataset, method, seed), heartbeat):
                out = rerun_seed(job, params, seed)
        except KeyboardInterrupt:
            store.release_seed(suite, dataset, method, seed)
            raise
        except Exception as exc:
            release_device_memory(job.device)
            store.finish_seed(suite, dataset, method, seed, status=FAILED, reason=describe_failure(exc),
                              params=params, provenance=prov)
            progress.on_seed(dataset, method, seed, FAILED)
            continue
        store.finish_seed(suite, dataset, method, seed, status=OK, reason=None, params=params, provenance=prov,
                          **out)
        progress.on_seed(dataset, method, seed, OK)


@contextmanager
def claim_heartbeat(store: Store, key: tuple[str, str, str, int], interval: float) -> Iterator[None]:
    """Refresh a seed claim every ``interval`` seconds while the re-run trains."""
    with beating(lambda: store.touch_seed(*key), interval, "seed-heartbeat"):
        yield


def finish_pair(job: PairJob, store: Store) -> str:
    """Complete the pair once every seed row is finished (by whichever worker finishes last)."""
    rows = store.seed_rows(job.suite, job.dataset, job.method.name)
    finished = [r for r in rows if r.status != RUNNING and r.seed < job.budget.seeds]
    if len(finished) < job.budget.seeds:
        return "re-running elsewhere"
    status = COMPLETE if any(r.status == OK for r in finished) else FAILED
    reason = None if status == COMPLETE else "every seed re-run failed: " + "; ".join(
        sorted({r.reason or "" for r in finished}))
    store.update_pair(job.suite, job.dataset, job.method.name, status=status, reason=reason)
    return status
