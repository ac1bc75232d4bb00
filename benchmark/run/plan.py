"""The plan of a run: the options of ``python -m benchmark run``, checked and resolved once.

:meth:`RunOptions.resolve` checks every option before any work (errors name the bad value and the fix)
and gives a :class:`RunPlan`: the suite, budget, datasets, methods, objective and pruner, the device,
the data root and the store's URL, and the code's commit. The plan is picklable: local worker
processes and Ray tasks receive a copy and never resolve anything again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

from benchmark.datasets import Dataset, dataset_registry, resolve_data_root
from benchmark.datasets.download import OFFLINE_ENV, downloads_disabled
from benchmark.datasets.files import is_file_spec, parse_file_spec
from benchmark.errors import BenchmarkError, DataUnavailableError, StorageError
from benchmark.methods import method_registry
from benchmark.protocol import Budget
from benchmark.store import Store
from benchmark.store.provenance import git_commit
from benchmark.store.studies import optuna_storage
from benchmark.suites import Suite, resolve_suite
from benchmark.training.base import resolve_device
from benchmark.tuning.job import check_objective
from benchmark.tuning.study import make_pruner

EXECUTORS = ("local", "ray")
AUTO = "auto"  # --workers auto: on CUDA, as many trial processes per GPU as the packing policy chooses


@dataclass
class RunOptions:
    """The options of ``python -m benchmark run`` (picklable: workers receive a copy).

    ``suite`` is a registered name, the path of a suite file (``my-suite.toml``) or a :class:`Suite`
    object (handy for suites built in code: the object travels to the worker processes, which need not
    have it registered). ``datasets`` may hold ``file:`` specs (:mod:`benchmark.datasets.files`).
    """

    suite: str | Suite
    methods: list[str] | None = None
    datasets: list[str] | None = None
    trials: int | None = None
    seeds: int | None = None
    timeout: float | None = None
    device_seconds: float | None = None
    # Worker processes; "auto" (and None: not given) lets the packing policy choose on CUDA (the plan's
    # workers stay "auto" until benchmark.run.cost.fill_device decides) and means 1 elsewhere.
    workers: int | str | None = 1
    device: str = "auto"
    storage: str | None = None
    data_root: str | None = None
    objective: str | None = None
    pruner: str | None = None
    heartbeat: int = 10
    executor: str = "local"
    ray_address: str | None = None
    gpu_fraction: float | None = None  # device share of one trial; default 1/(workers per GPU)
    # Deep-engine trials (and seed re-runs) trained at once as one stacked model; None (auto): on a CPU,
    # up to CPU_STACK where each member is bit for bit its single fit (resolve_stacking), else 1.
    stack_trials: int | None = None
    split_seeds: int | None = None  # splits 0..N-1, each tuned on its own; None: the suite's number
    plan_only: bool = False  # --plan: the store is read, never created or written
    # --skip-missing-data: with downloads off, run the datasets whose files are here and record the others
    # data-unavailable; without it a run that lacks files stops before any work (check_data_present).
    skip_missing_data: bool = False

    def resolve(self) -> RunPlan:
        """Check every option before any work; errors name the bad value and the fix."""
        check_not_empty(self)
        suite = self.suite if isinstance(self.suite, Suite) else resolve_suite(self.suite)
        check_workers(self.workers)
        if self.executor not in EXECUTORS:
            raise BenchmarkError(f"executor {self.executor!r} is unknown", f"use one of {', '.join(EXECUTORS)}")
        if self.ray_address is not None and self.executor != "ray":
            raise BenchmarkError(f"--ray-address {self.ray_address} was given with --executor {self.executor}",
                                 "add --executor ray, or drop --ray-address")
        split_seeds = suite.split_seeds if self.split_seeds is None else self.split_seeds
        if not isinstance(split_seeds, int) or isinstance(split_seeds, bool) or split_seeds < 1:
            raise BenchmarkError(f"--split-seeds {split_seeds} is invalid", "use 1 or more split seeds")
        if self.stack_trials is not None and (not isinstance(self.stack_trials, int) or self.stack_trials < 1):
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
        datasets, file_datasets = resolve_datasets(self.datasets or list(suite.datasets), suite)
        methods = list(dict.fromkeys(self.methods or suite.methods or method_registry.names()))
        # combined rows by their canonical names: focal-loss+smote and smote+focal-loss are one study
        methods = list(dict.fromkeys(m.name for m in method_registry.resolve(methods)))
        # Ray tasks pick their device on the cluster's nodes; the driver may have no GPU at all.
        device = resolve_device(self.device) if self.executor == "local" else None
        data_root = str(resolve_data_root(self.data_root)) if self.data_root is not None else None
        if not (self.plan_only or self.skip_missing_data) and self.executor == "local":
            check_data_present(datasets, file_datasets, data_root, split_seeds)
        if self.plan_only:
            store, url = store_for_reading(self.storage, 3 * self.heartbeat)
        else:
            # An unreachable store or a foreign schema fails here, before any work; the connection is kept.
            store = Store(self.storage, stale_after=3 * self.heartbeat)
            check_store_writable(store)  # a read-only file, mount or database user fails now, not at the first row
            optuna_storage(store.url, self.heartbeat)
            url = store.url
        options, notes = capped_workers(auto_workers(self, device))
        if options.workers != self.workers and self.workers in (None, AUTO) and device == "cpu":
            notes.insert(0, f"--workers auto: {options.workers} worker process(es), one per CPU core (capped by "
                            "memory); scores do not depend on the number of workers")
        stack, exact_only = resolve_stacking(self.stack_trials, device)
        options = replace(options, stack_trials=stack)
        plan = RunPlan(options=options, stack_exact_only=exact_only, suite=suite, budget=budget, datasets=datasets, methods=methods,
                       objective=objective, pruner=pruner, device=device, data_root=data_root,
                       storage=url, commit=git_commit(), notes=notes, split_seeds=split_seeds,
                       file_datasets=file_datasets)
        plan._store = store
        check_stored_settings(plan, store)
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
    split_seeds: int = 1  # the run's splits are split seeds 0..split_seeds-1, each tuned on its own
    notes: list[str] = field(default_factory=list)  # what resolving changed (workers capped), for the front end
    stack_exact_only: bool = False  # stack only where members equal their single fits (resolve_stacking)
    # Datasets read from files (the suite file's and --datasets file:...): not registered, so they travel
    # with the plan to every worker.
    file_datasets: dict[str, Dataset] = field(default_factory=dict)
    _store: Store | None = field(default=None, repr=False, compare=False)  # this process's connection

    def __getstate__(self) -> dict[str, Any]:  # a worker process or Ray task opens its own connection
        return {**self.__dict__, "_store": None}

    @property
    def heartbeat(self) -> int:
        return self.options.heartbeat

    def pair_budget(self, dataset: str | None = None) -> dict[str, Any]:
        """The budget stored with every pair; a resumed run must ask for the same one. For a pair of
        ``dataset``, also the digest of the suite file's settings it runs under (suites read from a file:
        :meth:`Suite.pair_digest`) and a file dataset's options, so that a changed file is refused too."""
        record = {**self.budget.record(), "objective": self.objective, "pruner": self.pruner,
                  "tune": list(self.suite.tune)}
        if dataset is not None:
            entry = self.dataset_entry(dataset)
            digest = self.suite.pair_digest(dataset, entry.modality)
            if digest is not None:
                record["suite_digest"] = digest
            if dataset in self.file_datasets:
                record["data_file"] = self.file_datasets[dataset].options_record()
        return record

    def dataset_entry(self, name: str) -> Dataset:
        """The entry of one of the run's datasets: read from a file, or registered."""
        return self.file_datasets.get(name) or dataset_registry.get(name)

    @property
    def total_pairs(self) -> int:
        """Pairs to run, each split seed counted: a pair on one split is tuned and re-run on its own."""
        return len(self.datasets) * len(self.methods) * self.split_seeds

    def open_store(self) -> Store:
        """This process's connection to the results store, opened once (claims go stale after three
        missed heartbeats)."""
        if self._store is None:
            self._store = Store(self.storage, stale_after=3 * self.heartbeat)
        return self._store


def resolve_datasets(names: list[str], suite: Suite) -> tuple[list[str], dict[str, Dataset]]:
    """The run's dataset names (a name given twice runs once) and its datasets read from files: the
    suite's, and the ``file:`` specs of ``--datasets`` (named after their files)."""
    files = dict(suite.file_datasets)
    datasets = []
    for name in names:
        if is_file_spec(name):
            entry = parse_file_spec(name)
            if entry.name in dataset_registry:
                raise BenchmarkError(f"the file dataset {name} is named '{entry.name}', a registered dataset's name",
                                     f"give it another name: {name}{'&' if '?' in name else '?'}name=my-data")
            known = files.get(entry.name)
            if known is not None and known.params["path"] != entry.params["path"]:
                raise BenchmarkError(f"two file datasets are named '{entry.name}' ({known.spec}, {name})",
                                     "give one of them another name with ?name=...")
            files[entry.name] = entry
            name = entry.name
        elif name not in files:
            name = dataset_registry.canonical(name)  # any case: `--datasets KEEL-Yeast3`
        datasets.append(name)
    datasets = list(dict.fromkeys(datasets))
    dataset_registry.resolve([d for d in datasets if d not in files])
    return datasets, {d: files[d] for d in datasets if d in files}


def check_data_present(datasets: list[str], file_datasets: dict[str, Dataset], data_root: str | None,
                       split_seeds: int) -> None:
    """With downloads off, a dataset whose files are absent would only be recorded data-unavailable after
    the rest ran: say so before any work instead (exit status 2), naming the files and the fixes. Each
    split is loaded as the run will load it (the loaders know which files, or which alternatives, they
    need); a loaded split is cached, so the run reads it back. Damaged files stay the run's business: they
    fail their own pairs only, with the reason."""
    if not downloads_disabled():
        return  # the loaders download what is missing
    absent = {}
    for name in datasets:
        entry = file_datasets.get(name) or dataset_registry.get(name)
        for split_seed in range(split_seeds):
            try:
                entry.load(data_root, split_seed)
            except DataUnavailableError as exc:
                absent[name] = f"{name} (needs {', '.join(exc.expected)} under {resolve_data_root(data_root)}; from {exc.source})"
                break
            except Exception:  # noqa: BLE001 - unreadable data fails its own pairs in the run, with the reason
                break
    if absent:
        raise BenchmarkError(
            f"downloads are off ({OFFLINE_ENV}=1) and {len(absent)} dataset(s) lack their files: "
            + "; ".join(absent.values()),
            "put the files under the data root (or point --data-root at a folder that has them), unset "
            f"{OFFLINE_ENV} to download them, or add --skip-missing-data to run the rest and record these "
            "pairs data-unavailable")


def check_stored_settings(plan: RunPlan, store: Store) -> None:
    """Before any work: pairs of a suite read from a file (or of a file dataset) stored under other
    settings than the file gives now are refused, with what changed, instead of mixing results."""
    if plan.suite.origin is None and not plan.file_datasets:
        return
    for row in store.pairs(plan.suite.name):
        if not row.budget or row.dataset not in plan.datasets or row.method not in plan.methods:
            continue
        if plan.suite.origin is None and row.dataset not in plan.file_datasets:
            continue  # a registered suite's own pairs: the pair's budget check words it
        asked = plan.pair_budget(row.dataset)
        if row.budget == asked:
            continue
        changed = [f"{key} {row.budget.get(key)!r} -> {asked.get(key)!r}" if key not in SETTINGS_DIGESTS
                   else SETTINGS_DIGESTS[key] for key in sorted(set(row.budget) | set(asked))
                   if row.budget.get(key) != asked.get(key)]
        source = f"the suite file {plan.suite.origin}" if plan.suite.origin else "the dataset's file: spec"
        raise BenchmarkError(
            f"suite '{plan.suite.name}' is stored in {store.safe_url} with other settings than {source} gives "
            f"now ({'; '.join(changed)}; first seen on pair {row.dataset} x {row.method}): the file (or an option "
            "given with it) changed since those results were computed",
            "restore its settings (and the original --trials/--seeds/--timeout/--objective/--pruner) to resume, "
            "give the changed suite another name (name = \"...\" in the file), or use another --storage")


# What a changed digest in a stored pair budget means, in words.
SETTINGS_DIGESTS = {"suite_digest": "the training settings, engine or tuning width of this dataset changed",
                    "data_file": "the file dataset's options changed"}


WORKER_MEMORY = 1 << 30  # bytes a local worker is allowed for: one small model, its data and torch (~0.6 GB measured)


def check_not_empty(options: RunOptions) -> None:
    """An empty value (``--storage ""``, ``--methods ""``) is a mistake, never "the default"."""
    for name in ("storage", "data_root", "objective", "pruner", "device", "executor", "ray_address"):
        value = getattr(options, name)
        if isinstance(value, str) and not value.strip():
            flag = "--" + name.replace("_", "-")
            raise BenchmarkError(f"{flag} is empty", f"give a value for {flag}, or leave the option out for the default")
    for name in ("methods", "datasets"):
        value = getattr(options, name)
        if value is not None and not [v for v in value if str(v).strip()]:
            raise BenchmarkError(f"--{name} names nothing", f"give comma-separated names, or leave --{name} out "
                                                             "for the suite's")


def machine_capacity() -> tuple[int, int | None]:
    """CPU cores this process may use, and bytes of memory available now (None where unknown)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    available = None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            available = None
    return cpus, available


def check_workers(workers: Any) -> None:
    if workers is None or workers == AUTO:
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise BenchmarkError(f"--workers {workers} is invalid", f"use 1 or more workers, or {AUTO}")


def auto_workers(options: RunOptions, device: str | None) -> RunOptions:
    """``--workers auto`` (or not given): left to the packing policy for local trials on CUDA
    (:func:`benchmark.run.cost.fill_device`); on a CPU one worker per core, capped by memory
    (:func:`capped_workers`), since every trial runs on its suite's fixed thread count and the number of
    workers changes no score (docs/performance.md, 'One thread per trial'); one for Ray's driver."""
    if options.workers is not None and options.workers != AUTO:
        return options
    if options.executor != "local" or device is None:
        return replace(options, workers=1)
    if device.startswith("cuda"):
        return replace(options, workers=AUTO)
    cpus, _ = machine_capacity()
    return replace(options, workers=max(1, cpus))


CPU_STACK = 8  # members of one stacked model on a CPU (measured: docs/performance.md, 'Stacking on the CPU')


def resolve_stacking(asked: int | None, device: str | None) -> tuple[int, bool]:
    """(members per stacked model, exact stacking only). ``--stack-trials N``: N, stacked on any path
    (:func:`benchmark.training.stacked.fit_many`). Not given: on a CPU :data:`CPU_STACK`, but only where
    each member is bit for bit the fit it would be alone (the MLP: no score changes, several times the
    samples/s); elsewhere 1 (on a GPU stacking changes the rounding, so it stays a choice)."""
    if asked is not None:
        return asked, False
    return (CPU_STACK, True) if device == "cpu" else (1, False)


def capped_workers(options: RunOptions) -> tuple[RunOptions, list[str]]:
    """Local workers are capped at one per CPU core and per GiB of available memory: more only compete
    for the same cores (measured: --workers 16 on 2 cores started 17 processes using 9.9 GB, no faster).
    Ray tasks run on the cluster's machines and are not capped here."""
    if options.executor != "local" or options.workers == AUTO or options.workers <= 1:
        return options, []
    cpus, available = machine_capacity()
    by_memory = max(1, available // WORKER_MEMORY) if available is not None else options.workers
    cap = max(1, min(cpus, by_memory))
    if options.workers <= cap:
        return options, []
    memory = f" and {available / WORKER_MEMORY:.1f} GiB of available memory" if available is not None else ""
    note = (f"--workers {options.workers} capped at {cap}: this machine has {cpus} CPU core(s){memory}, and a "
            f"local worker needs a core and 1 GiB")
    return replace(options, workers=cap), [note]


def store_for_reading(url: str | None, stale_after: float) -> tuple[Store, str]:
    """The store as ``--plan`` reads it, and its URL: an SQLite file that does not exist yet is not created
    (an empty store in memory stands for it), and nothing is written to one that exists."""
    from sqlalchemy.engine import make_url

    from benchmark.store.results import DEFAULT_DB

    url = url or f"sqlite:///{DEFAULT_DB.resolve()}"  # the run's default store, its folder not created
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - Store words the error for a malformed URL
        return Store(url, stale_after=stale_after), url
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not os.path.exists(parsed.database):
        return Store("sqlite://", stale_after=stale_after), url
    return Store(url, stale_after=stale_after), url


def check_store_writable(store: Store) -> None:
    """Try a write in a transaction that is rolled back: a store that opens but cannot be written fails
    here, before any training, and nothing in it changes."""
    from sqlalchemy import update
    from sqlalchemy.exc import SQLAlchemyError

    from benchmark.store.results import Meta

    try:
        with store.engine.connect() as conn:
            transaction = conn.begin()
            try:
                conn.execute(update(Meta).where(Meta.key == "schema_version").values(value=Meta.value))
            finally:
                transaction.rollback()
    except SQLAlchemyError as exc:
        raise StorageError(f"the results store {store.safe_url} cannot be written: {str(exc).splitlines()[0]}",
                           "give a --storage you can write to (results and report only read a store)") from None
