"""Stopping a run's worker processes (H10's report: a SIGTERM'd ``--workers 2`` run took 30 s to stop and
looked hung). A run started in the background by a shell or a scheduler ignores SIGINT, and its
workers inherit that; the pool must stop them with a signal they act on, at once, as interrupted."""

from __future__ import annotations

import multiprocessing
import signal
import time

import pytest

from benchmark.run.pool import STOPPED_BY_SIGNAL, stop_processes
from benchmark.run.worker import sigterm_as_interrupt


def background_worker(ready) -> None:
    """A worker as ``worker_main`` runs one, started the way a background job starts: SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with sigterm_as_interrupt():
        try:
            ready.set()
            while True:
                time.sleep(0.05)
        except KeyboardInterrupt:
            raise SystemExit(130) from None


@pytest.mark.slow  # starts processes (the CLI or workers): seconds, kept out of -m 'not slow'
def test_workers_that_ignore_sigint_stop_at_once_as_interrupted():
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    worker = ctx.Process(target=background_worker, args=(ready,))
    worker.start()
    try:
        assert ready.wait(60), "the worker did not start"
        started = time.monotonic()
        stop_processes([worker], grace=0.1, patience=20)
        took = time.monotonic() - started
    finally:
        if worker.is_alive():
            worker.kill()
            worker.join(5)
    assert worker.exitcode == 130 and worker.exitcode in STOPPED_BY_SIGNAL  # interrupted, not killed
    assert took < 10, f"stopping took {took:.1f} s: the worker ran on until killed"
