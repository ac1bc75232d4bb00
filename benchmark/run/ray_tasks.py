"""The Ray executor (``--executor ray [--ray-address ADDR]``): a run's steps as Ray tasks.

The driver (the ``run`` command) does the light work: it checks which pairs need work, loads each
dataset's split once per split seed and puts it in Ray's object store, and records pair states. The heavy work runs
as tasks on an existing Ray cluster (a local instance when no address is given), each asking for one
CPU and, on GPUs, a fraction of one (``--gpu-fraction``), so several trials share a device:

- tuning: ``--workers`` tasks per pair, each running trials of the pair's Optuna study until the
  budget is spent (the same exact-budget rule as local workers, through the same database);
- re-runs: one task per seed of the best configuration, claimed in the store as local workers do.

All pairs are submitted at once and Ray schedules them on the resources it has. Tasks write to the
results database themselves, so ``--storage`` must be reachable from every node: a PostgreSQL URL on
a cluster; the default SQLite file works for a local instance. A task that dies (a node lost, the
out-of-memory killer) has its trial failed as interrupted and is submitted again, a bounded number
of times; results already stored are never repeated.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import optuna

from benchmark.errors import BenchmarkError
from benchmark.run.pair import (
    final_seed_rows,
    finish_pair,
    finish_tuning,
    prepare_dataset,
    rerun_seeds,
    start_pair,
)
from benchmark.run.plan import RunPlan
from benchmark.run.progress import Progress
from benchmark.run.worker import share_device
from benchmark.store import Store
from benchmark.store.status import FAILED, RE_RUNNING, TUNING
from benchmark.store.studies import optuna_storage
from benchmark.training.base import resolve_device
from benchmark.tuning.budget import spent, stop_reason
from benchmark.tuning.job import PairJob
from benchmark.tuning.study import best_trial, open_study
from benchmark.tuning.trials import run_trials

RESUBMITS = 2  # per pair and step, for tasks that died rather than failed
POLL_SECONDS = 2.0

_resources: dict[tuple[str, int], tuple[Store, optuna.storages.BaseStorage]] = {}


def import_ray():
    try:
        import ray
    except ImportError:
        raise BenchmarkError("--executor ray needs Ray, which is not installed",
                             'install it with `pip install "ray[default]"`, or use --executor local') from None
    return ray


def resources(url: str, heartbeat: int) -> tuple[Store, optuna.storages.BaseStorage]:
    """One store and one Optuna storage per Ray worker process (tasks reuse them)."""
    key = (url, heartbeat)
    if key not in _resources:
        _resources[key] = (Store(url, stale_after=3 * heartbeat), optuna_storage(url, heartbeat))
    return _resources[key]


def task_job(job: PairJob, split: Any, device: str, fraction: float | None) -> PairJob:
    # The split comes zero-copy (read-only) from the object store; engines never write to it, and
    # torch's warning about read-only arrays would repeat in every task.
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    device = resolve_device(device)
    share_device(device, fraction)
    return replace(job, split=split, device=device)


def tune_task(job: PairJob, split: Any, url: str, heartbeat: int, device: str, fraction: float | None) -> None:
    """Run trials of one pair's study until its budget is spent (by this and the other tasks)."""
    _, storage = resources(url, heartbeat)
    run_trials(task_job(job, split, device, fraction), storage)


def seed_task(job: PairJob, split: Any, url: str, heartbeat: int, device: str, fraction: float | None,
              params: dict[str, Any], seed: int) -> None:
    """Re-run the best configuration with one seed (if no other worker holds it) and store the scores."""
    store, _ = resources(url, heartbeat)
    rerun_seeds(task_job(job, split, device, fraction), store, params, [seed], heartbeat, Progress())


@dataclass
class PairState:
    job: PairJob
    split_ref: Any
    phase: str = TUNING
    refs: set = field(default_factory=set)
    params: dict[str, Any] | None = None
    resubmits: int = 0
    study: optuna.Study | None = None


def run_on_ray(plan: RunPlan, progress: Progress) -> None:
    """Run the plan's pairs as Ray tasks; returns when every pair is finished (or failed)."""
    ray = import_ray()
    options = plan.options
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=options.ray_address, log_to_driver=False, include_dashboard=False)
    try:
        if plan.storage.startswith("sqlite") and len([n for n in ray.nodes() if n.get("Alive")]) > 1:
            raise BenchmarkError(
                f"the Ray cluster has several nodes but --storage is the SQLite file {plan.storage}, which "
                "only this machine can write",
                "give every node one database: --storage postgresql+psycopg://user:password@host/db",
            )
        task_device = task_device_for(ray, options.device)
        fraction = (options.gpu_fraction or 1.0) if task_device != "cpu" else None
        ask = {"num_cpus": 1, "num_gpus": fraction or 0, "max_retries": 0}
        tune = ray.remote(tune_task).options(**ask)
        rerun = ray.remote(seed_task).options(**ask)
        store = plan.open_store()
        storage = optuna_storage(plan.storage, plan.heartbeat)
        common = (plan.storage, plan.heartbeat, task_device, fraction)
        states: dict[Any, PairState] = {}  # task reference -> its pair

        def submit_tuning(state: PairState) -> None:
            light = replace(state.job, split=None)
            for _ in range(min(options.workers, state.job.budget.trials)):
                ref = tune.remote(light, state.split_ref, *common)
                state.refs.add(ref)
                states[ref] = state

        def submit_seeds(state: PairState, seeds) -> None:
            light = replace(state.job, split=None)
            for seed in seeds:
                ref = rerun.remote(light, state.split_ref, *common, state.params, seed)
                state.refs.add(ref)
                states[ref] = state

        progress.on_start(plan.total_pairs)
        for dataset in plan.datasets:
            jobs = prepare_dataset(plan, store, dataset, "cpu", progress)  # the driver trains nothing
            split_refs = {}  # one copy of each split seed's split in the object store
            for job in jobs:
                if job.split_seed not in split_refs:
                    split_refs[job.split_seed] = ray.put(job.split)
                start_pair(job, store, plan)
                state = PairState(replace(job, device=task_device), split_refs[job.split_seed])
                state.study = open_study(state.job, storage)
                submit_tuning(state)

        last_report = time.monotonic()
        try:
            while states:
                ready, _ = ray.wait(list(states), num_returns=1, timeout=POLL_SECONDS)
                for ref in ready:
                    state = states.pop(ref)
                    state.refs.discard(ref)
                    died = task_died(ray, ref)
                    if state.refs:
                        continue
                    step_done(state, died, store, progress, submit_tuning, submit_seeds)
                if time.monotonic() - last_report >= POLL_SECONDS:
                    report_tuning(states, progress)
                    last_report = time.monotonic()
        except BaseException:
            for ref in list(states):
                ray.cancel(ref)  # a KeyboardInterrupt in the task: its trial is recorded interrupted
            raise
    finally:
        if started_here:
            ray.shutdown()


def task_device_for(ray, device: str) -> str:
    """The device tasks train on: 'auto' means GPUs when the cluster has any (the driver may have none)."""
    if device == "auto":
        return "cuda" if ray.cluster_resources().get("GPU", 0) > 0 else "cpu"
    if device.startswith("cuda") and ray.cluster_resources().get("GPU", 0) <= 0:
        raise BenchmarkError("--device cuda was asked for but the Ray cluster has no GPU",
                             "use --device cpu or auto, or add GPU nodes to the cluster")
    return device


def task_died(ray, ref) -> bool:
    """True when the task's process died (node lost, killed); exceptions inside trials never get here,
    they are failed trials. Any other task error is raised: it is a bug or bad input, not a lost worker."""
    try:
        ray.get(ref)
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.OutOfMemoryError,
            ray.exceptions.TaskCancelledError):
        return True
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        raise cause from None
    return False


def step_done(state: PairState, died: bool, store: Store, progress: Progress, submit_tuning, submit_seeds) -> None:
    """Every task of a pair's current step has ended: go on to its next step (or redo a lost one)."""
    job = state.job
    if state.phase == TUNING:
        study = state.study
        if died and stop_reason(spent(study, job.budget), job.budget) is None and state.resubmits < RESUBMITS:
            state.resubmits += 1
            submit_tuning(state)
            return
        state.params = finish_tuning(job, store, study)
        if state.params is None:
            progress.on_pair(job.label, job.method.name, FAILED)
            return
        state.phase, state.resubmits = RE_RUNNING, 0
        submit_seeds(state, range(job.budget.seeds))
        return
    finished = {r.seed for r in final_seed_rows(store, job)}
    missing = [s for s in range(job.budget.seeds) if s not in finished]
    if missing and state.resubmits < RESUBMITS:
        state.resubmits += 1
        submit_seeds(state, missing)
        return
    progress.on_pair(job.label, job.method.name, finish_pair(job, store))


def report_tuning(states: dict[Any, PairState], progress: Progress) -> None:
    """Trial progress of the pairs being tuned, read from their studies."""
    for state in {id(s): s for s in states.values() if s.phase == TUNING}.values():
        job = state.job
        best = best_trial(state.study, job.budget)
        progress.on_trial(job.label, job.method.name, spent(state.study, job.budget), best.value if best else None)
