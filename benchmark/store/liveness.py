"""Worker liveness: who a worker is, whether its process is gone, and the heartbeat it keeps.

A worker is ``host:pid``. Trials and seed claims record the worker that runs them; another worker
finds them orphaned at once when the process is gone from the same host, and, across machines, when
the heartbeat kept by :func:`beating` stops for longer than a grace period. A trial also records its
*run* (:func:`run_id`), so that a dead worker tells whether its run stopped with it (the run's
misfortune) or went on without it (the worker's own death).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def worker_id(pid: int | None = None) -> str:
    """``host:pid`` of this process (or of process ``pid`` on this host)."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


_RUN_PID: int | None = None  # set in a --workers process: the pool's process, whose end is the run's end


def join_run(pid: int) -> None:
    """Called first in a ``--workers`` process: its run is the pool's process ``pid``. Told, not guessed
    from multiprocessing's parent: a run started inside any other multiprocessing child (a test harness,
    a user's own pool) is its own run."""
    global _RUN_PID
    _RUN_PID = pid


def run_id() -> str:
    """``host:pid`` of the process whose end is this run's end: for a ``--workers`` process the pool's
    process that started it (:func:`join_run`), else this process itself."""
    return worker_id(_RUN_PID)


def host_of(worker: str) -> str:
    return worker.rpartition(":")[0]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def worker_gone(worker: str | None) -> bool | None:
    """True when ``worker`` ran on this host and its process is gone, False when it still runs here,
    None when this host cannot tell (another machine, or no worker recorded): ask its heartbeat."""
    if not worker or ":" not in worker:
        return None
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    return not pid_alive(int(pid))


@contextmanager
def beating(beat: Callable[[], None], interval: float, name: str) -> Iterator[None]:
    """Call ``beat()`` at once and then every ``interval`` seconds until the block ends. A failed beat is
    skipped: a missed beat only lets another worker take over sooner, never corrupts a row."""
    stop = threading.Event()

    def loop() -> None:
        while True:
            try:
                beat()
            except Exception:
                pass
            if stop.wait(interval):
                return

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
