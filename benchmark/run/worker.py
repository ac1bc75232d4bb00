"""One worker's pass over every pair of a run, and its share of the machine.

Every worker, whether the ``run`` process itself, one of ``--workers N`` local processes or a process
on another machine pointed at the same ``--storage``, runs this same loop over the same pairs. They
cooperate through the database alone: Optuna shares the trials of a study, the exact-budget rule stops
them at the budget together, and seed re-runs are claimed row by row.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from benchmark.run.pair import prepare_dataset, run_pair
from benchmark.run.plan import RunPlan
from benchmark.run.progress import Progress
from benchmark.store.studies import optuna_storage


def run_worker(plan: RunPlan, progress: Progress | None = None, device: str | None = None,
               gpu_fraction: float | None = None) -> None:
    """One worker's pass over every pair of the run."""
    progress = progress or Progress()
    device = device or plan.device or "cpu"
    share_device(device, gpu_fraction)
    store = plan.open_store()
    storage = optuna_storage(plan.storage, plan.heartbeat)
    progress.on_start(plan.total_pairs)
    with cpu_share(plan.options.workers):
        for dataset_name in plan.datasets:
            for job in prepare_dataset(plan, store, dataset_name, device, progress):
                status = run_pair(job, store, storage, plan, progress)
                progress.on_pair(job.label, job.method.name, status)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler's kill) ends a run like Ctrl-C: the trial in flight is recorded interrupted."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def share_device(device: str, fraction: float | None) -> None:
    """Cap this process's CUDA caching allocator to its share of the GPU, so neighbours fit beside it."""
    if device.startswith("cuda") and fraction is not None and fraction < 1:
        import torch

        torch.cuda.set_per_process_memory_fraction(fraction, torch.device(device))


@contextmanager
def cpu_share(workers: int) -> Iterator[None]:
    """Give each of ``workers`` processes on this machine its share of the CPU cores for torch's threads:
    oversubscribed OpenMP threads spin against each other (measured 4x slower on a loaded 2-core box)."""
    if workers <= 1:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    try:
        yield
    finally:
        torch.set_num_threads(before)
