"""The plan of a run: the options of ``python -m benchmark run``, checked and resolved once.

:meth:`RunOptions.resolve` checks every option before any work (errors name the bad value and the fix)
and gives a :class:`RunPlan`: the suite, budget, datasets, methods, objective and pruner, the device,
the data root and the store's URL, and the code's commit. The plan is picklable: local worker
processes and Ray tasks receive a copy and never resolve anything again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmark.datasets import dataset_registry, resolve_data_root
from benchmark.errors import BenchmarkError
from benchmark.methods import method_registry
from benchmark.protocol import Budget
from benchmark.store import Store
from benchmark.store.provenance import git_commit
from benchmark.store.studies import optuna_storage
from benchmark.suites import Suite, suite_registry
from benchmark.training.base import resolve_device
from benchmark.tuning.job import check_objective
from benchmark.tuning.study import make_pruner

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
        # Ray tasks pick their device on the cluster's nodes; the driver may have no GPU at all.
        device = resolve_device(self.device) if self.executor == "local" else None
        data_root = str(resolve_data_root(self.data_root)) if self.data_root is not None else None
        # An unreachable store or a foreign schema fails here, before any work; the connection is kept.
        store = Store(self.storage, stale_after=3 * self.heartbeat)
        optuna_storage(store.url, self.heartbeat)
        plan = RunPlan(options=self, suite=suite, budget=budget, datasets=datasets, methods=methods,
                       objective=objective, pruner=pruner, device=device, data_root=data_root,
                       storage=store.url, commit=git_commit())
        plan._store = store
        return plan


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
    device: str | None  # the local executor's device ('cpu', 'cuda'); None: Ray tasks choose on their nodes
    data_root: str | None  # None: each loader's default ($BENCHMARK_DATA, else the user cache)
    storage: str  # the results store's URL (our tables and Optuna's)
    # The code's commit when the run started, stored with every row: read once here, not when a row
    # is written (the checkout may move on during a long run) and not on Ray nodes (they may have none).
    commit: str | None = None
    _store: Store | None = field(default=None, repr=False, compare=False)  # this process's connection

    def __getstate__(self) -> dict[str, Any]:  # a worker process or Ray task opens its own connection
        return {**self.__dict__, "_store": None}

    @property
    def heartbeat(self) -> int:
        return self.options.heartbeat

    def pair_budget(self) -> dict[str, Any]:
        """The budget stored with every pair; a resumed run must ask for the same one."""
        return {**self.budget.record(), "objective": self.objective, "pruner": self.pruner,
                "tune": list(self.suite.tune)}

    @property
    def total_pairs(self) -> int:
        return len(self.datasets) * len(self.methods)

    def open_store(self) -> Store:
        """This process's connection to the results store, opened once (claims go stale after three
        missed heartbeats)."""
        if self._store is None:
            self._store = Store(self.storage, stale_after=3 * self.heartbeat)
        return self._store
