"""One worker's pass over every pair of a run, and its share of a GPU.

Every worker, whether the ``run`` process itself, one of ``--workers N`` local processes or a process
on another machine pointed at the same ``--storage``, runs this same loop over the same pairs. They
cooperate through the database alone: Optuna shares the trials of a study, the exact-budget rule stops
them at the budget together, and seed re-runs are claimed row by row. On a CPU the workers do not
divide the cores between them: each trial runs on its suite's fixed thread count, so the number of
workers never changes a score.
"""

from __future__ import annotations

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
    # No share of the cores per worker: every trial runs on its suite's fixed torch thread count
    # (benchmark.training.base.pin_threads), so --workers changes how many trials run at once, never
    # how one trial sums.
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
