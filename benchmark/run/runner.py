"""Running a suite: resolve the plan once, choose the executor, summarise what the run did.

``--executor local`` runs the worker loop (:mod:`benchmark.run.worker`) in this process, beside
``--workers - 1`` extra processes (:mod:`benchmark.run.pool`), replaced when they die;
``--executor ray`` runs the same pair steps as Ray tasks (:mod:`benchmark.run.ray_tasks`). Both call
the pair lifecycle of :mod:`benchmark.run.pair`; nothing there knows which executor runs it.
"""

from __future__ import annotations

import time

from benchmark.run.cost import fill_device
from benchmark.run.plan import RunOptions, RunPlan
from benchmark.run.pool import WorkerPool
from benchmark.run.progress import Progress, RunSummary
from benchmark.run.worker import run_worker, sigterm_as_interrupt
from benchmark.store import Store
from benchmark.store.status import FINAL_PAIR_STATES

NOT_STARTED = "not started"


def run_suite(plan: RunPlan | RunOptions, progress: Progress | None = None) -> RunSummary:
    """Run (or resume) a suite with the plan's executor; returns a summary of the pairs' statuses.
    ``plan`` may be unresolved options: they are resolved here."""
    plan = plan.resolve() if isinstance(plan, RunOptions) else plan
    plan = fill_device(plan)  # --workers auto on CUDA: the packing policy's number of processes
    store = plan.open_store()
    started = time.monotonic()
    before = final_pairs(plan, store)
    deaths: list[str] = []
    with sigterm_as_interrupt():
        if plan.options.executor == "ray":
            from benchmark.run.ray_tasks import run_on_ray

            run_on_ray(plan, progress or Progress())
        elif plan.options.workers == 1:
            run_worker(plan, progress)
        else:
            with WorkerPool(plan, plan.device) as pool:
                run_worker(plan, progress, device=pool.device_of(0), gpu_fraction=pool.gpu_fraction)
                pool.wait()
            deaths = pool.deaths
    summary = summarise(plan, store, before, time.monotonic() - started)
    summary.worker_deaths = deaths
    return summary


def final_pairs(plan: RunPlan, store: Store) -> set[tuple[str, str, int]]:
    """(dataset, method, split seed) of the run's pairs already final in the store."""
    return {(p.dataset, p.method, p.split_seed) for p in store.pairs(plan.suite.name)
            if p.status in FINAL_PAIR_STATES and p.dataset in plan.datasets and p.method in plan.methods
            and p.split_seed < plan.split_seeds}


def summarise(plan: RunPlan, store: Store, before: set[tuple[str, str, int]], seconds: float) -> RunSummary:
    """Statuses of the pairs this run worked on (each split seed of a pair counted), read from the store
    (whichever worker did the work)."""
    summary = RunSummary(pairs=plan.total_pairs, skipped=len(before), seconds=seconds)
    rows = {(p.dataset, p.method, p.split_seed): p.status for p in store.pairs(plan.suite.name)}
    for d in plan.datasets:
        for m in plan.methods:
            for k in range(plan.split_seeds):
                if (d, m, k) not in before:
                    status = rows.get((d, m, k), NOT_STARTED)
                    summary.statuses[status] = summary.statuses.get(status, 0) + 1
    return summary
