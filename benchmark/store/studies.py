"""Optuna's studies in the results database: how the storage is opened and how a study is named.

Each (suite, dataset, method, split seed) is tuned in one study. Split seed 0 is named
``suite::dataset::method``, as every study was before suites repeated their splits, so stores of
that time resume where they were; split seed k > 0 is ``suite::dataset::method::split-k``. This module
is the one place that builds and reads those names (tuning creates the studies, the worker pool finds
a dead worker's trials through them, the report reads their histories).
"""

from __future__ import annotations

import random
import re
import time
import warnings
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from benchmark.errors import StorageError
from benchmark.store.results import Store, engine_options, sqlite_pragmas

if TYPE_CHECKING:
    import optuna

SEPARATOR = "::"
SPLIT_PART = re.compile(r"split-(0|[1-9][0-9]*)")


class StudyKey(NamedTuple):
    """What a study of this benchmark tunes: one pair on one split."""

    suite: str
    dataset: str
    method: str
    split_seed: int = 0


def study_name(suite: str, dataset: str, method: str, split_seed: int = 0) -> str:
    parts = [suite, dataset, method] + ([f"split-{split_seed}"] if split_seed else [])
    return SEPARATOR.join(parts)


def parse_study_name(name: str) -> StudyKey | None:
    """The (suite, dataset, method, split seed) of a study this benchmark created, or None for any other
    study (``split-0`` is never written, so only the three-part name means split seed 0)."""
    parts = name.split(SEPARATOR)
    if len(parts) == 3:
        return StudyKey(parts[0], parts[1], parts[2], 0)
    if len(parts) == 4:
        match = SPLIT_PART.fullmatch(parts[3])
        if match and int(match.group(1)) > 0:
            return StudyKey(parts[0], parts[1], parts[2], int(match.group(1)))
    return None


def suite_study_names(storage: optuna.storages.BaseStorage, suite: str) -> dict[str, StudyKey]:
    """The studies of ``suite`` in ``storage``: study name -> its key."""
    found = {}
    for summary in storage.get_all_studies():
        parsed = parse_study_name(summary.study_name)
        if parsed is not None and parsed.suite == suite:
            found[summary.study_name] = parsed
    return found


def optuna_storage(url: str, heartbeat: int) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage on the results database, with heartbeats so lost workers' trials get failed."""
    import optuna

    for attempt in range(3):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna, and what makes resuming safe
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat, grace_period=3 * heartbeat,
                                                     engine_kwargs=engine_options(url))
            if url.startswith("sqlite"):  # our tables' settings; the connections made before them are closed
                event.listen(storage.engine, "connect", sqlite_pragmas)
                storage.engine.dispose()
            return storage
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
