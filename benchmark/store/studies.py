"""Optuna's studies in the results database: how the storage is opened and how a study is named.

Each (suite, dataset, method) pair is tuned in one study named ``suite::dataset::method``; this module
is the one place that builds and reads those names (tuning creates the studies, the worker pool finds
a dead worker's trials through them, the report reads their histories).
"""

from __future__ import annotations

import random
import time
import warnings
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from benchmark.errors import StorageError
from benchmark.store.results import Store, engine_options

if TYPE_CHECKING:
    import optuna

SEPARATOR = "::"


def study_name(suite: str, dataset: str, method: str) -> str:
    return SEPARATOR.join((suite, dataset, method))


def parse_study_name(name: str) -> tuple[str, str, str] | None:
    """(suite, dataset, method) of a study this benchmark created, or None for any other study."""
    parts = name.split(SEPARATOR)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def suite_study_names(storage: optuna.storages.BaseStorage, suite: str) -> dict[str, tuple[str, str]]:
    """The studies of ``suite`` in ``storage``: study name -> (dataset, method)."""
    found = {}
    for summary in storage.get_all_studies():
        parsed = parse_study_name(summary.study_name)
        if parsed is not None and parsed[0] == suite:
            found[summary.study_name] = (parsed[1], parsed[2])
    return found


def optuna_storage(url: str, heartbeat: int) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage on the results database, with heartbeats so lost workers' trials get failed."""
    import optuna

    for attempt in range(3):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna, and what makes resuming safe
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat, grace_period=3 * heartbeat,
                                                  engine_kwargs=engine_options(url))
        except Exception as exc:  # Optuna raises RuntimeError for a schema of another Optuna version
            if attempt < 2 and isinstance(exc, SQLAlchemyError):
                # Workers starting together on a fresh database race to create Optuna's tables; the
                # loser finds them there on the next attempt.
                time.sleep(0.5 + random.random())
                continue
            error = exc
            break
    raise StorageError(
        f"cannot open the Optuna tables of {Store.hide_password(url)}: {str(error).splitlines()[0]}",
        "use a --storage written by this Optuna version (`optuna storage upgrade --storage URL` upgrades an "
        "older one), or a new --storage",
    ) from error
