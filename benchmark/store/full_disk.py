"""A full disk under the results store: how to recognise it in any exception the store, Optuna or
SQLAlchemy raises, and the one line that says so (the file, what it takes, what is free, what to do).
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmark.errors import StorageError
from benchmark.store.results import Store


def disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it was raised from: Optuna wraps SQLAlchemy, which wraps sqlite3)
    says the disk is full."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "database or disk is full" in str(exc) or "No space left on device" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_error(url: str) -> StorageError:
    """One line for a store that could not grow: the file, what it takes, what is free."""
    path = Path(url.split("///", 1)[1]) if url.startswith("sqlite") and "///" in url else None
    if path is None:
        return StorageError(f"the database server of {Store.hide_password(url)} is out of disk space",
                            "free space on the server and run again to resume")
    files = [p for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")) if p.exists()]
    used = sum(p.stat().st_size for p in files)
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = 0
    return StorageError(
        f"no space left on the device for the results store {path}: it takes {used / 2**20:.1f} MB with its "
        f"write-ahead log, {free / 2**20:.1f} MB are free, and a write needs room for the log to grow "
        f"(about as much again: {used / 2**20:.1f} MB)",
        "free that much space (or use a --storage on a larger disk) and run again: the stored results are "
        "intact and the run resumes")


@contextmanager
def disk_full_as_error(url: str) -> Iterator[None]:
    """Turn a full disk under the store (our tables or Optuna's) into one StorageError line."""
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:
        if disk_full(exc):
            raise disk_full_error(url) from None
        raise
