"""Local worker processes (``--workers N``): the pool beside the caller's own worker loop.

Workers are processes, not threads: a crash, the out-of-memory killer or a SIGKILL ends one worker,
never the run. The pool's monitor fails the dead worker's trial with the cause and starts a fresh
process in its place; a worker that died while the run went on is the worker's own death (charged
after a slot's retries, :mod:`benchmark.tuning.budget`), one that stopped on a signal is the run's. On
one machine the workers share what it has: each trial runs on its suite's
fixed torch thread count (``cpu_threads``), GPUs are handed out round-robin, and on a shared GPU
each worker's CUDA caching allocator is capped to its share of the memory (``--gpu-fraction``,
default 1 / workers per GPU). Each worker starts its pass over the pairs at its own place in the
list (:func:`staggered`), so workers packed on one device train different pairs at once rather than
queueing on one study.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import replace
from typing import Any

import optuna

from benchmark.run.plan import RunPlan
from benchmark.run.worker import run_worker, sigterm_as_interrupt
from benchmark.store.liveness import join_run, worker_id
from benchmark.store.studies import optuna_storage, suite_study_names
from benchmark.tuning.budget import INTERRUPTED, WORKER_DIED
from benchmark.tuning.study import fail_trial

SETTLE_SECONDS = 1.0  # how long the run must outlive a dead worker before its death is the worker's own
# Exit statuses of a worker stopped by a signal meant for the run (Ctrl-C, SIGTERM: worker_main exits 130).
STOPPED_BY_SIGNAL = (130, -signal.SIGINT, -signal.SIGTERM)


class WorkerPool:
    """The ``workers - 1`` extra local worker processes beside the caller's own worker loop.

    A monitor thread watches them: a process that dies (a crash, the out-of-memory killer, SIGKILL)
    has its running trials failed with the cause, and a fresh process takes its place, so the run
    completes. Restarts are bounded, so a worker that cannot start is not restarted forever.
    """

    def __init__(self, plan: RunPlan, device: str, poll: float = 0.5):
        self.plan, self.device, self.poll = plan, device, poll
        self.ctx = multiprocessing.get_context("spawn")  # CUDA cannot be forked; spawn is safe everywhere
        self.count = plan.options.workers
        self.restarts_left = 2 * self.count
        self.procs: dict[int, Any] = {}
        self.deaths: list[str] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.monitor = threading.Thread(target=self._watch, name="worker-monitor", daemon=True)
        gpus = cuda_device_count() if device == "cuda" else 0
        self.gpus = gpus
        per_gpu = math.ceil(self.count / gpus) if gpus else 1
        self.gpu_fraction = plan.options.gpu_fraction or (1.0 / per_gpu if gpus else None)

    def device_of(self, index: int) -> str:
        """Spread workers over the visible GPUs round-robin."""
        return f"cuda:{index % self.gpus}" if self.gpus > 1 else self.device

    def __enter__(self) -> WorkerPool:
        for index in range(1, self.count):
            self._start(index)
        self.monitor.start()
        return self

    def _start(self, index: int) -> None:
        p = self.ctx.Process(target=worker_main,
                             args=(self.plan, self.device_of(index), self.gpu_fraction, index, self.count,
                                   os.getpid()),
                             name=f"benchmark-worker-{index}", daemon=False)
        p.start()
        self.procs[index] = p

    def _watch(self) -> None:
        storage = optuna_storage(self.plan.storage, self.plan.heartbeat)
        while not self.stopping.wait(self.poll):
            with self.lock:
                for index, p in list(self.procs.items()):
                    if p.is_alive() or p.exitcode is None:
                        continue
                    del self.procs[index]
                    if p.exitcode == 0 or self.stopping.is_set():
                        continue
                    cause = exit_cause(p.exitcode)
                    # A kill of the whole run would have ended this process too by now: the run went on.
                    if self.stopping.wait(SETTLE_SECONDS):
                        continue
                    kind = INTERRUPTED if p.exitcode in STOPPED_BY_SIGNAL else WORKER_DIED
                    try:
                        fail_worker_trials(storage, self.plan.suite.name, worker_id(p.pid),
                                           f"{kind}: its worker process {p.pid} {cause}")
                        death = f"worker {p.pid} {cause}: its trial was recorded failed"
                    except Exception as exc:  # the next worker to open the study fails the trial instead
                        death = f"worker {p.pid} {cause}: its trial is failed later ({exc!r:.200})"
                    if self.restarts_left > 0:
                        self.restarts_left -= 1
                        self._start(index)
                        death += "; a new worker took its place"
                    else:
                        death += "; no restart left"
                    self.deaths.append(death)

    def wait(self) -> None:
        """Wait for every extra worker (and its replacements) to finish the run."""
        while True:
            with self.lock:
                alive = [p for p in self.procs.values() if p.exitcode is None]
                pending = bool(self.procs)  # dead ones stay until the monitor has handled them
            if not pending:
                return
            if alive:
                alive[0].join(timeout=self.poll)
            else:
                time.sleep(self.poll)

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stopping.set()
        self.monitor.join(timeout=10)
        if exc_type is not None:  # Ctrl-C or an error in the caller's loop: stop the others as Ctrl-C would
            procs = list(self.procs.values())
            try:
                stop_processes(procs)
            except KeyboardInterrupt:  # a second signal while they stop: at once, else this process's exit
                for p in procs:        # waits on the workers (not daemons) while they run on
                    p.kill()
                raise


def stop_processes(procs: list[Any], grace: float = 2.0, patience: float = 30.0) -> None:
    """Interrupt workers (their trials in flight are recorded interrupted), then kill what still runs.

    The interrupt is SIGTERM, which every worker turns into Ctrl-C (:func:`worker_main`): a run started
    in the background by a shell or a scheduler ignores SIGINT, and so do its workers, which then ran on
    until killed after ``patience`` (a SIGTERM'd run took 30 s to stop, H10's report)."""
    deadline = time.monotonic() + grace
    for p in procs:  # a terminal's Ctrl-C reached them already: give them a moment before a second one
        p.join(timeout=max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive() and p.pid is not None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + patience
    for p in procs:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(timeout=5)


def exit_cause(exitcode: int) -> str:
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


def fail_worker_trials(storage: optuna.storages.BaseStorage, suite: str, worker: str, reason: str) -> int:
    """Fail the running trials of one (dead) worker in every study of the suite; returns how many."""
    failed = 0
    for name in suite_study_names(storage, suite):
        study = optuna.load_study(study_name=name, storage=storage)
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if t.user_attrs.get("worker") == worker:
                fail_trial(study, t, reason)
                failed += 1
    return failed


def cuda_device_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def staggered(plan: RunPlan, index: int, count: int) -> RunPlan:
    """Worker ``index`` of ``count`` begins its pass at its own place in the methods' order and wraps
    around, so that concurrent workers (packed on one GPU, say) start on different pairs instead of all
    queueing behind the first study's tuning width. Every worker still visits every pair, and trial k of
    a study is the same configuration whichever worker runs it: only the order of work changes."""
    if count <= 1 or index % count == 0 or len(plan.methods) < 2:
        return plan
    offset = (index % count) * len(plan.methods) // count
    return replace(plan, methods=[*plan.methods[offset:], *plan.methods[:offset]])


def worker_main(plan: RunPlan, device: str, gpu_fraction: float | None, index: int = 0, count: int = 1,
                run: int | None = None) -> None:
    """Entry point of an extra worker process (``index`` of the run's ``count`` workers; ``run``: the pool's
    process id, whose end is the run's end)."""
    if run is not None:
        join_run(run)
    with sigterm_as_interrupt():
        try:
            run_worker(staggered(plan, index, count), None, device=device, gpu_fraction=gpu_fraction)
        except KeyboardInterrupt:
            raise SystemExit(130) from None
