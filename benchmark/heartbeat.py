"""A background beat while long work runs: how claims and running trials show they are alive."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


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
